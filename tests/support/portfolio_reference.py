"""A slow, obvious portfolio simulation written from docs/simulation.md's "Portfolios" text,
to check the compiled loop (domain/execution/portfolio.py) against.

Plain Python over dicts: one account, linear or spot contracts, fills at the next open or at
the close, stop loss and take profit (fractions or ATR multiples), trailing stops (a fraction
or an ATR distance), time stops, sizing by risk, no funding or liquidation. Each symbol's
targets and ranks come in per bar of its own candles (already cut to the traded range); its
ATR is TA-Lib's over those candles.
"""

import math
from dataclasses import dataclass, field

import numpy as np
import talib


@dataclass
class Sym:
    name: str
    times: list[int]
    open: list[float]
    high: list[float]
    low: list[float]
    close: list[float]
    target: list[int]
    rank: list[float]  # NaN: missing


@dataclass
class Setup:
    initial_capital: float = 10_000.0
    fee_rate: float = 0.001
    slippage: float = 0.0
    position_size: float = 1.0
    leverage: float = 1.0
    fill_at_close: bool = False
    stop_loss: float | None = None
    take_profit: float | None = None
    trailing_stop: float | None = None
    # ATR multiples (k): a stop k x ATR(atr_period) from the fill, that ATR known at the fill.
    stop_loss_atr: float | None = None
    take_profit_atr: float | None = None
    trailing_stop_atr: float | None = None
    atr_period: int = 14
    max_bars_in_trade: int | None = None
    risk: float | None = None  # sizing by risk: this share of E lost at the stop loss
    max_positions: int = 1
    rebalance: set[int] | None = None  # union bar indices of rebalance times; None: slots


@dataclass
class Position:
    symbol: int
    side: int
    qty: float
    entry: float  # fill price
    fees: float
    entry_time: int
    entry_equity: float
    sl: float | None
    tp: float | None
    trail_distance: float | None  # an ATR trail's fixed distance
    best: float  # the trail's best price: the fill, then highs (lows) of bars ended after it
    entry_row: int  # the symbol's bar of the fill
    at_close: bool  # filled at a close (its own bar does not move the trail)
    closes: int = 0  # bar closes held, for the time stop


@dataclass
class Trade:
    symbol: str
    side: int
    entry_time: int
    entry_price: float
    exit_time: int | None
    exit_price: float
    qty: float
    pnl: float
    fees: float
    reason: str
    entry_equity: float


@dataclass
class Outcome:
    equity: list[float]
    trades: list[Trade] = field(default_factory=list)
    skipped: int = 0


def simulate(symbols: list[Sym], setup: Setup) -> Outcome:
    union = sorted({t for s in symbols for t in s.times})
    at = [{t: i for i, t in enumerate(s.times)} for s in symbols]
    cash = setup.initial_capital
    positions: dict[int, Position] = {}
    last_close: dict[int, float] = {}
    previous: dict[int, int] = {k: 0 for k in range(len(symbols))}
    waiting: dict[int, int] = {}  # slots: symbol -> side it waits to enter
    exit_next: set[int] = set()
    time_exit_next: set[int] = set()
    out = Outcome([])
    slip = setup.slippage
    atr = [
        talib.ATR(np.array(s.high), np.array(s.low), np.array(s.close), setup.atr_period)
        for s in symbols
    ]

    def level(
        fill: float, direction: int, fraction: float | None, k: float | None, a: float
    ) -> float | None:
        # `direction` +1: above the fill, -1: below; None: no such stop (or no ATR yet).
        if fraction is not None:
            return fill * (1 + direction * fraction)
        if k is not None and not math.isnan(a):
            return fill + direction * k * a
        return None

    def close(k: int, price: float, time: int, reason: str) -> None:
        nonlocal cash
        p = positions.pop(k)
        fill = price * (1 - slip) if p.side > 0 else price * (1 + slip)
        fee = setup.fee_rate * p.qty * fill
        cash += p.side * p.qty * fill - fee
        fees = p.fees + fee
        pnl = p.side * p.qty * (fill - p.entry) - fees
        out.trades.append(
            Trade(symbols[k].name, p.side, p.entry_time, p.entry, time, fill, p.qty, pnl,
                  fees, reason, p.entry_equity)
        )  # fmt: skip

    def account() -> float:
        return cash + sum(p.side * p.qty * last_close[k] for k, p in positions.items())

    def free_cash() -> float:
        # cash not held as margin: the wallet less each position's margin
        held = cash
        for p in positions.values():
            held += p.side * p.qty * p.entry - p.qty * p.entry / setup.leverage
        return held

    def enter(
        k: int, side: int, row: int, signal: int, at_close: bool, share: float, equity: float
    ) -> None:
        nonlocal cash
        free = free_cash()
        if equity <= 0 or free <= 0:
            return
        s = symbols[k]
        price = s.close[row] if at_close else s.open[row]
        fill = price * (1 + slip) if side > 0 else price * (1 - slip)
        money = min(equity * setup.position_size * share, free)
        qty = money / (fill * (1 / setup.leverage + setup.fee_rate))
        a = atr[k][signal]  # the ATR known at the fill: that of the signal bar
        sl = level(fill, -side, setup.stop_loss, setup.stop_loss_atr, a)
        tp = level(fill, side, setup.take_profit, setup.take_profit_atr, a)
        if setup.risk is not None and sl is not None and sl != fill:
            qty = min(qty, setup.risk * equity / abs(fill - sl))  # at most the slot's stake
        fee = setup.fee_rate * qty * fill
        cash -= side * qty * fill + fee
        trail = None
        if setup.trailing_stop_atr is not None and not math.isnan(a):
            trail = setup.trailing_stop_atr * a
        positions[k] = Position(
            k, side, qty, fill, fee, s.times[row], equity, sl, tp, trail, fill, row, at_close
        )

    def trailing(p: Position) -> float | None:
        if setup.trailing_stop is not None:
            return p.best * (1 - p.side * setup.trailing_stop)
        if p.trail_distance is not None:
            return p.best - p.side * p.trail_distance
        return None

    def stop_level(p: Position) -> tuple[float | None, str]:
        # The stop loss or the trailing stop, whichever is nearer the price.
        trail = trailing(p)
        if trail is None:
            return p.sl, "stop_loss"
        if p.sl is None or p.side * (trail - p.sl) > 0:
            return trail, "trailing_stop"
        return p.sl, "stop_loss"

    def stop_hit(k: int, i: int) -> tuple[float, str, bool] | None:
        p = positions[k]
        s = symbols[k]
        o, h, lo = s.open[i], s.high[i], s.low[i]
        sl, why = stop_level(p)
        if p.side > 0:
            if sl is not None and o <= sl:
                return o, why, True
            if p.tp is not None and o >= p.tp:
                return o, "take_profit", True
            if sl is not None and lo <= sl:
                return sl, why, False
            if p.tp is not None and h >= p.tp:
                return p.tp, "take_profit", False
        else:
            if sl is not None and o >= sl:
                return o, why, True
            if p.tp is not None and o <= p.tp:
                return o, "take_profit", True
            if sl is not None and h >= sl:
                return sl, why, False
            if p.tp is not None and lo <= p.tp:
                return p.tp, "take_profit", False
        return None

    def entries(u: int, here: list[tuple[int, int]], back: int, at_close: bool) -> None:
        time = union[u]
        price_of = {k: (symbols[k].close[i] if at_close else symbols[k].open[i]) for k, i in here}
        row_of = dict(here)
        if setup.rebalance is not None:
            if u not in setup.rebalance:
                return
            ok = [(k, i - back) for k, i in here if i - back >= 0]
            ok = [(k, j) for k, j in ok if not math.isnan(symbols[k].rank[j])]
            longs = sorted(
                (k for k, j in ok if symbols[k].target[j] == 1),
                key=lambda k: (-symbols[k].rank[dict(ok)[k]], k),
            )[: setup.max_positions]
            shorts = sorted(
                (k for k, j in ok if symbols[k].target[j] == -1),
                key=lambda k: (symbols[k].rank[dict(ok)[k]], k),
            )[: setup.max_positions]
            chosen = longs + shorts
            for k, _ in here:
                if k in positions and k not in chosen:
                    close(k, price_of[k], time, "rebalance")
            equity = account()
            for k in chosen:
                if k not in positions:
                    j = dict(ok)[k]
                    enter(k, symbols[k].target[j], row_of[k], j, at_close, 1 / len(chosen), equity)
            return
        wanting = [(k, i) for k, i in here if k not in positions and waiting.get(k, 0) != 0]

        def key(item: tuple[int, int]) -> tuple[int, float, int]:
            k, i = item
            r = symbols[k].rank[i - back]
            return (1, 0.0, k) if math.isnan(r) else (0, -r, k)

        equity = account()
        for k, _ in sorted(wanting, key=key):
            if len(positions) >= setup.max_positions:
                out.skipped += 1
                continue
            i = row_of[k]
            enter(k, waiting[k], i, i - back, at_close, 1 / setup.max_positions, equity)
            if k in positions:
                del waiting[k]

    for u, time in enumerate(union):
        here = [(k, at[k][time]) for k in range(len(symbols)) if time in at[k]]
        if not setup.fill_at_close:
            for k, i in here:
                if k in time_exit_next:
                    time_exit_next.discard(k)
                    if k in positions:
                        close(k, symbols[k].open[i], time, "time_stop")
                if k in exit_next:
                    exit_next.discard(k)
                    if k in positions:
                        close(k, symbols[k].open[i], time, "signal")
                if k in positions:
                    hit = stop_hit(k, i)
                    if hit is not None and hit[2]:
                        close(k, hit[0], time, hit[1])
            entries(u, here, 1, False)
        for k, i in here:
            if k in positions:
                hit = stop_hit(k, i)
                if hit is not None:
                    close(k, hit[0], time, hit[1])
        for k, i in here:
            last_close[k] = symbols[k].close[i]
            p = positions.get(k)
            if p is not None and setup.max_bars_in_trade is not None:
                p.closes += 1
                if p.closes >= setup.max_bars_in_trade:
                    if setup.fill_at_close:
                        close(k, symbols[k].close[i], time, "time_stop")
                    elif i + 1 < len(symbols[k].times):
                        time_exit_next.add(k)
            target = symbols[k].target[i]
            if target != previous[k]:
                previous[k] = target
                waiting[k] = target
                p = positions.get(k)
                if p is not None and p.side != target:
                    if setup.fill_at_close:
                        close(k, symbols[k].close[i], time, "signal")
                    elif i + 1 < len(symbols[k].times):
                        exit_next.add(k)
        if setup.fill_at_close:
            entries(u, here, 0, True)
        out.equity.append(account())
        for k, i in here:
            p = positions.get(k)
            if p is not None and not (p.at_close and p.entry_row == i):
                s = symbols[k]
                p.best = max(p.best, s.high[i]) if p.side > 0 else min(p.best, s.low[i])

    for k, p in list(positions.items()):
        out.trades.append(
            Trade(symbols[k].name, p.side, p.entry_time, p.entry, None, last_close[k], p.qty,
                  p.side * p.qty * (last_close[k] - p.entry) - p.fees, p.fees, "end",
                  p.entry_equity)
        )  # fmt: skip
    return out
