"""A slow, obvious simulation of docs/simulation.md's orders, sizing and intrabar rules, to
check the compiled kernel against: plain Python over a list of bars, each walked as its
detail candles when all are given (else as itself), every fill stamped with its time.

Funding follows the contract's words, not the kernel's bookkeeping: before a fill at time T
every funding time before T is paid (and one at T itself when the fill is at an open), and
before a bar is marked every one before its end; the position holding at that moment pays,
at the open of the candle containing the funding time (the next bar's first candle in a
gap). Linear and spot only, stops as fractions of the price; the mark is the candles.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

OPEN, END = 0, 1  # a fill at a candle's open time, or at its end


@dataclass(frozen=True)
class Setup:
    fill_at_close: bool = False
    fee: float = 0.001
    maker_fee: float = 0.0002
    slippage: float = 0.0
    position_size: float = 1.0
    stop_loss: float | None = None
    take_profit: float | None = None
    trailing: float | None = None
    limit: tuple[float, int] | None = None  # (offset, valid bars)
    max_bars: int | None = None
    risk: float | None = None
    leverage: float = 1.0
    mmr: float = 0.005
    initial_capital: float = 10_000.0


@dataclass
class Trade:
    side: int
    entry_bar: int
    entry_price: float
    qty: float
    fees: float
    stop: float
    take: float
    liquidation: float
    bankruptcy: float
    extreme: float  # best price since the fill, for the trail
    checks_from: tuple[int, int]  # (bar, candle): stops are checked from here
    closes: int = 0
    funding: float = 0.0
    exit_bar: int = -1
    exit_price: float = math.nan
    reason: str = "end"
    pnl: float = 0.0


@dataclass
class Candle:
    time: int
    end: int
    open: float
    high: float
    low: float


@dataclass
class Bar:
    time: int
    end: int
    open: float
    high: float
    low: float
    close: float
    detail: list[Candle] = field(default_factory=list)  # empty: walked as itself


@dataclass
class Book:
    setup: Setup
    bars: Sequence[Bar]
    fundings: list[tuple[int, float]]  # (time, rate), ascending
    cash: float = 0.0
    trades: list[Trade] = field(default_factory=list)
    open_trade: Trade | None = None
    paid_upto: int = 0  # fundings[:paid_upto] are settled
    unfilled: int = 0

    def mark_at(self, time: int) -> float:
        for bar in self.bars:
            for candle in self.candles(bar):
                if candle.time <= time < candle.end:
                    return candle.open
            if bar.time > time:
                return self.candles(bar)[0].open
        raise AssertionError("a funding time after the data")

    def candles(self, bar: Bar) -> list[Candle]:
        return bar.detail or [Candle(bar.time, bar.end, bar.open, bar.high, bar.low)]

    def settle_funding(self, time: int, including: bool) -> None:
        while self.paid_upto < len(self.fundings):
            at, rate = self.fundings[self.paid_upto]
            if at > time or (at == time and not including):
                return
            self.paid_upto += 1
            trade = self.open_trade
            if trade is not None:
                paid = trade.side * rate * trade.qty * self.mark_at(at)
                self.cash -= paid
                trade.funding += paid

    def before_fill(self, time: int, kind: int) -> None:
        self.settle_funding(time, including=kind == OPEN)

    def exit(self, bar: int, price: float, reason: str, time: int, kind: int) -> None:
        self.before_fill(time, kind)
        trade = self.open_trade
        assert trade is not None
        s = self.setup
        if reason == "liquidation":
            fill, fee = price, 0.0
        else:
            fill = price * (1 - s.slippage) if trade.side > 0 else price * (1 + s.slippage)
            fee = s.fee * trade.qty * fill
        self.cash += trade.side * trade.qty * fill - fee
        trade.fees += fee
        trade.exit_bar, trade.exit_price, trade.reason = bar, fill, reason
        gain = trade.side * trade.qty * (fill - trade.entry_price)
        trade.pnl = gain - trade.fees - trade.funding
        self.open_trade = None

    def enter(
        self, bar: int, side: int, price: float, maker: bool, checks_from: tuple[int, int]
    ) -> None:
        s = self.setup
        fill = price * (1 + s.slippage) if side > 0 else price * (1 - s.slippage)
        fee_rate = s.maker_fee if maker else s.fee
        stop = math.nan if s.stop_loss is None else fill * (1 - side * s.stop_loss)
        take = math.nan if s.take_profit is None else fill * (1 + side * s.take_profit)
        liquidation = bankruptcy = math.nan
        if s.leverage > 1:
            margin = 1 / s.leverage
            liquidation = fill * (1 - side * (margin - s.mmr))
            bankruptcy = fill * (1 - side * margin)
            if side * (liquidation - stop) > 0:
                stop = math.nan  # beyond the liquidation: never set
        qty = self.cash * s.position_size / (fill * (1 / s.leverage + fee_rate))
        if s.risk is not None and not math.isnan(stop):
            qty = min(qty, s.risk * self.cash / abs(fill - stop))
        fee = fee_rate * qty * fill
        self.cash -= side * qty * fill + fee
        trade = Trade(
            side, bar, fill, qty, fee, stop, take, liquidation, bankruptcy, fill, checks_from
        )
        self.trades.append(trade)
        self.open_trade = trade


def _stop_in(trade: Trade, candle: Candle, setup: Setup) -> tuple[float, str, bool] | None:
    """(price, reason, at the open) of the stop this candle reaches first, in the contract's
    order: liquidation at the open, a level the open is past, the stop, the liquidation, the
    take profit."""
    side = trade.side
    stop, reason = trade.stop, "stop_loss"
    if setup.trailing is not None:
        trail = trade.extreme * (1 - side * setup.trailing)
        if side * (trade.liquidation - trail) > 0:
            trail = math.nan
        if not math.isnan(trail) and (math.isnan(stop) or side * (trail - stop) > 0):
            stop, reason = trail, "trailing_stop"

    def past(level: float, price: float) -> bool:  # price at or beyond a level against us
        return not math.isnan(level) and side * (price - level) <= 0

    def reached(level: float, price: float) -> bool:  # a profit level reached
        return not math.isnan(level) and side * (price - level) >= 0

    adverse = candle.low if side > 0 else candle.high
    favourable = candle.high if side > 0 else candle.low
    if past(trade.liquidation, candle.open):
        return trade.bankruptcy, "liquidation", True
    if past(stop, candle.open):
        return candle.open, reason, True
    if reached(trade.take, candle.open):
        return candle.open, "take_profit", True
    if past(stop, adverse):
        return stop, reason, False
    if past(trade.liquidation, adverse):
        return trade.bankruptcy, "liquidation", False
    if reached(trade.take, favourable):
        return trade.take, "take_profit", False
    return None


def simulate(
    bars: Sequence[Bar],
    targets: Sequence[int],
    setup: Setup,
    fundings: Sequence[tuple[int, float]] = (),
) -> tuple[list[Trade], list[float], int]:
    """(trades, equity at each close, unfilled limit orders)."""
    book = Book(setup, bars, sorted(fundings), cash=setup.initial_capital)
    equity: list[float] = []
    previous = 0
    pending: int | None = None
    time_stop_due = False
    order: tuple[int, float, int, int] | None = None  # (side, price, first bar, last bar)
    n = len(bars)
    for i, bar in enumerate(bars):
        book.settle_funding(bar.time, including=True)  # at this open, or in a gap before it
        if time_stop_due:
            time_stop_due = False
            if book.open_trade is not None:
                book.exit(i, bar.open, "time_stop", bar.time, OPEN)
        if pending is not None:
            new, pending = pending, None
            if book.open_trade is not None and book.open_trade.side != new:
                book.exit(i, bar.open, "signal", bar.time, OPEN)
            if setup.limit is None and new != 0 and book.open_trade is None and book.cash > 0:
                book.before_fill(bar.time, OPEN)
                book.enter(i, new, bar.open, False, (i, -1))
        candles = book.candles(bar)
        for k, candle in enumerate(candles):
            index = k if bar.detail else -1
            trade = book.open_trade
            at_open = inside = False
            if order is not None and trade is None and order[2] <= i and book.cash > 0:
                side, limit = order[0], order[1]
                if side * (limit - candle.open) >= 0:
                    at_open = True
                elif side * (limit - (candle.low if side > 0 else candle.high)) >= 0:
                    inside = True
            if at_open:
                assert order is not None
                book.before_fill(candle.time, OPEN)
                book.enter(i, order[0], candle.open, True, (i, index))
                order = None
            trade = book.open_trade
            if trade is not None and (i, index) >= trade.checks_from:
                hit = _stop_in(trade, candle, setup)
                if hit is not None:
                    price, reason, opening = hit
                    kind = OPEN if opening else END
                    book.exit(i, price, reason, candle.time if opening else candle.end, kind)
            if inside:
                assert order is not None
                book.before_fill(candle.end, END)
                checks = (i, index + 1) if bar.detail else (i + 1, -1)
                book.enter(i, order[0], order[1], True, checks)
                order = None
                trade = book.open_trade
                assert trade is not None
                if not bar.detail:
                    rest = Candle(candle.time, candle.end, trade.entry_price, math.nan, math.nan)
                    if trade.side > 0:
                        rest.high, rest.low = trade.entry_price, candle.low
                    else:
                        rest.high, rest.low = candle.high, trade.entry_price
                    saved_take, trade.take = trade.take, math.nan
                    hit = _stop_in(trade, rest, setup)
                    trade.take = saved_take
                    if hit is not None:
                        book.exit(i, hit[0], hit[1], candle.end, END)
            trade = book.open_trade
            if trade is not None and (i, index) >= trade.checks_from:
                if trade.side > 0:
                    trade.extreme = max(trade.extreme, candle.high)
                else:
                    trade.extreme = min(trade.extreme, candle.low)
        # The close.
        book.settle_funding(bar.end, including=False)
        if book.open_trade is not None:
            book.open_trade.closes += 1
        if order is not None and i >= order[3]:
            order = None
            book.unfilled += 1
        trade = book.open_trade
        if setup.max_bars is not None and trade is not None and trade.closes >= setup.max_bars:
            if setup.fill_at_close:
                book.exit(i, bar.close, "time_stop", bar.end, END)
            elif i + 1 < n:
                time_stop_due = True
        if targets[i] != previous:
            previous = targets[i]
            if order is not None:
                order = None
                book.unfilled += 1
            if not setup.fill_at_close:
                if i + 1 < n:
                    pending = previous
            else:
                if book.open_trade is not None and book.open_trade.side != previous:
                    book.exit(i, bar.close, "signal", bar.end, END)
                opens = previous != 0 and book.open_trade is None and book.cash > 0
                if setup.limit is None and opens:
                    book.enter(i, previous, bar.close, False, (i + 1, -1))
            held = book.open_trade.side if book.open_trade is not None else 0
            if setup.limit is not None and previous != 0 and held != previous and i + 1 < n:
                offset, valid = setup.limit
                price = bar.close * (1 - previous * offset)
                order = (previous, price, i + 1, i + valid)
        trade = book.open_trade
        if trade is not None and not bar.detail and (i, -1) >= trade.checks_from:
            if trade.side > 0:
                trade.extreme = max(trade.extreme, bar.high)
            else:
                trade.extreme = min(trade.extreme, bar.low)
        held_value = trade.side * trade.qty * bar.close if trade is not None else 0.0
        equity.append(book.cash + held_value)
    trade = book.open_trade
    if trade is not None:
        trade.exit_price = bars[-1].close
        trade.pnl = trade.side * trade.qty * (trade.exit_price - trade.entry_price)
        trade.pnl -= trade.fees + trade.funding
    return book.trades, equity, book.unfilled
