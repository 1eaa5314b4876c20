"""The path-dependent part: target positions in, fills, trades and marked equity out.

One compiled pass over the bars implements docs/simulation.md's fill rules: fills at the
next open or at the close, slippage, fees, sizing (a fraction of equity, or by risk to the
stop), reversals, shorts, stop loss, take profit, trailing stop (each a fraction of the
price, or a multiple of the ATR known at the fill), limit entries and time stops. Everything
is per unit of account; quantities are fractional.

Inside a bar the kernel walks candles: the bar itself, or with `fill_detail` its detail
candles in time order (`KernelDetail`), each checked by the same rules, so detail is an input
of the one loop, not a second simulator. A bar without full detail is walked as one candle.

Perpetuals (docs/simulation.md, "Perpetual futures"): sizing with leverage, funding booked at
its time between the fills (before the fills at an open that is its time, after the fills
before it), liquidation at the bankruptcy price checked against the mark price, and inverse
contracts, whose quantity is in USD and whose account is in the base coin: a position of q
contracts is worth -q/p coins at price p where a linear one is worth q * p, so one set of
cash formulas serves both through `fill_levels.value`.
"""

from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from numba import njit

from domain.execution.fill_levels import (
    beyond,
    liquidation_prices,
    nearer_stop,
    share_of_value,
    stop_exit,
    stop_level,
    trailing_level,
    value,
)
from domain.execution.kernel_records import (
    AT_CLOSE,
    AT_OPEN,
    INSIDE,
    FloatArray,
    Kernel,
    KernelBars,
    KernelDetail,
    KernelSettings,
    no_detail,
)
from domain.execution.settings import (
    EXIT_LIQUIDATION,
    EXIT_REASONS,
    EXIT_SIGNAL,
    EXIT_STILL_OPEN,
    EXIT_TIME_STOP,
)

__all__ = [
    "EXIT_LIQUIDATION",
    "EXIT_REASONS",
    "Kernel",
    "KernelBars",
    "KernelDetail",
    "KernelSettings",
    "no_detail",
]


class TradeBook(NamedTuple):
    """The trade columns the kernel fills in place, `max_trades` long."""

    side: npt.NDArray[np.int8]
    entry_bar: npt.NDArray[np.int64]
    entry_price: FloatArray
    exit_bar: npt.NDArray[np.int64]
    exit_price: FloatArray
    qty: FloatArray
    pnl: FloatArray
    fees: FloatArray
    reason: npt.NDArray[np.int8]
    funding: FloatArray
    entry_at: npt.NDArray[np.int8]  # AT_OPEN, INSIDE or AT_CLOSE
    entry_candle: npt.NDArray[np.int64]  # the detail candle of the fill; -1: the bar's
    exit_at: npt.NDArray[np.int8]  # -1 while still open
    exit_candle: npt.NDArray[np.int64]
    entry_equity: FloatArray  # the equity just before the entry fill (flat: the cash)


@njit(cache=True)
def _trade_book(capacity: int) -> TradeBook:
    return TradeBook(
        np.zeros(capacity, np.int8),
        np.zeros(capacity, np.int64),
        np.zeros(capacity),
        np.full(capacity, -1, np.int64),
        np.zeros(capacity),
        np.zeros(capacity),
        np.zeros(capacity),
        np.zeros(capacity),
        np.zeros(capacity, np.int8),
        np.zeros(capacity),
        np.zeros(capacity, np.int8),
        np.full(capacity, -1, np.int64),
        np.full(capacity, -1, np.int8),
        np.full(capacity, -1, np.int64),
        np.zeros(capacity),
    )


@njit(cache=True, inline="always")
def _close_trade(
    book: TradeBook,
    k: int,
    side: int,
    qty: float,
    price: float,
    reason: int,
    t: int,
    at: int,
    candle: int,
    settings: KernelSettings,
) -> float:
    """Book trade k's exit at `price` (before slippage) in bar t, `at` its open, inside it
    or at its close (in detail candle `candle`, or -1); the cash it brings."""
    inverse = settings.inverse
    if reason == EXIT_LIQUIDATION:
        fill = price  # the bankruptcy price, no fee: the gap to LP is the fee
        fee = 0.0
    else:
        slippage = settings.slippage
        fill = price * (1.0 - slippage) if side > 0 else price * (1.0 + slippage)
        fee = share_of_value(inverse, settings.fee_rate, qty, fill)
    book.exit_bar[k] = t
    book.exit_price[k] = fill
    book.fees[k] += fee
    gain = side * qty * (value(inverse, fill) - value(inverse, book.entry_price[k]))
    book.pnl[k] = gain - book.fees[k] - book.funding[k]
    book.reason[k] = reason
    book.exit_at[k] = at
    book.exit_candle[k] = candle
    return side * qty * value(inverse, fill) - fee


# What an entry leaves: cash, quantity, stop loss, take profit, trailing ATR distance,
# liquidation and bankruptcy prices.
Entry = tuple[float, float, float, float, float, float, float]


@njit(cache=True, inline="always")
def _open_trade(
    book: TradeBook,
    k: int,
    side: int,
    price: float,
    t: int,
    at: int,
    candle: int,
    atr_at_fill: float,
    cash: float,
    fee_rate: float,
    size: float,
    settings: KernelSettings,
) -> Entry:
    """Book trade k's entry of `side` at `price` (before slippage) in bar t (`at` and
    `candle` as for `_close_trade`), sized from `cash` (the equity, as the account is flat)
    times `size` (the `size` rule's share at the signal bar, 1 without one) and paying
    `fee_rate`."""
    s = settings
    inverse = s.inverse
    stake = s.position_size * size
    fill = price * (1.0 + s.slippage) if side > 0 else price * (1.0 - s.slippage)
    stop_loss_level = stop_level(-side, s.stop_loss, s.stop_loss_atr, fill, atr_at_fill)
    take_profit_level = stop_level(side, s.take_profit, s.take_profit_atr, fill, atr_at_fill)
    liquidation_level = np.nan
    bankruptcy_level = np.nan
    if s.liquidates:
        liquidation_level, bankruptcy_level = liquidation_prices(
            inverse, side, fill, s.leverage, s.maintenance_margin_rate
        )
        if beyond(side, stop_loss_level, liquidation_level):
            stop_loss_level = np.nan
    # At leverage 1 the spot formula: 1.0 / 1.0 + fee_rate is 1.0 + fee_rate.
    if inverse:
        qty = cash * stake * fill / (1.0 / s.leverage + fee_rate)
    else:
        qty = cash * stake / (fill * (1.0 / s.leverage + fee_rate))
    if not np.isnan(s.risk) and not np.isnan(stop_loss_level):
        # What loses `risk` of the equity at the stop's level, capped at the fraction's.
        at_risk = abs(value(inverse, fill) - value(inverse, stop_loss_level))
        if at_risk > 0.0:  # a stop at the fill itself (an ATR of 0) risks all: the cap
            qty = min(qty, s.risk * cash / at_risk)
    fee = share_of_value(inverse, fee_rate, qty, fill)
    book.entry_equity[k] = cash
    cash -= side * qty * value(inverse, fill) + fee
    book.side[k] = side
    book.entry_bar[k] = t
    book.entry_price[k] = fill
    book.qty[k] = qty
    book.fees[k] = fee
    book.entry_at[k] = at
    book.entry_candle[k] = candle
    return (
        cash,
        qty,
        stop_loss_level,
        take_profit_level,
        s.trailing_stop_atr * atr_at_fill,
        liquidation_level,
        bankruptcy_level,
    )


@njit(cache=True)
def _size_at(entry_size: FloatArray, signal_bar: int) -> float:
    """The `size` rule's share of `position_size` for an entry signalled at `signal_bar`."""
    return entry_size[signal_bar] if entry_size.size > 0 else 1.0


@njit(cache=True)
def _atr_at(atr: FloatArray, known_at: int, uses_atr: bool) -> float:
    """The ATR known at a fill: that of bar `known_at`; NaN without ATR stops or before one."""
    return atr[known_at] if uses_atr and known_at >= 0 else np.nan


@njit(cache=True)
def simulate_kernel(bars: KernelBars, detail: KernelDetail, settings: KernelSettings) -> Kernel:
    """Fills, trades and equity of `bars.target` under `settings`; ATR stops use the ATR
    known at the fill (the previous bar's for an open or limit fill, the bar's own for a
    close fill)."""
    s = settings
    bar_open = bars.open
    bar_high = bars.high
    bar_low = bars.low
    bar_close = bars.close
    target = bars.target
    inverse = s.inverse
    n = bar_close.size
    equity = np.empty(n - s.trade_from)
    book = _trade_book(s.max_trades)
    books_funding = bars.funding_at_open.size > 0
    uses_detail = detail.first.size > 0
    uses_atr = not (np.isnan(s.stop_loss_atr) and np.isnan(s.take_profit_atr))
    uses_atr = uses_atr or not np.isnan(s.trailing_stop_atr)
    limits = s.limit_entries
    # Without detail, funding, limit orders, stops or liquidation nothing can happen inside a
    # bar: the candle walk below is skipped (a position is only marked at the close).
    has_stops = not (np.isnan(s.stop_loss) and np.isnan(s.take_profit))
    has_stops = has_stops or uses_atr or not np.isnan(s.trailing_stop)
    walks_candles = uses_detail or books_funding or limits or has_stops or s.liquidates
    # Nor then, with no limit order working, at its close unless the target changes or a time
    # stop comes due: such a bar is only marked (the loop's first lines), as most bars are.
    marks_quiet_bars = not (uses_detail or books_funding or has_stops or s.liquidates)

    cash = s.initial_capital
    side = 0  # current position: +1, -1 or 0
    qty = 0.0
    trades = 0  # index of the next trade; the open one is trades - 1
    stop_loss_level = np.nan
    take_profit_level = np.nan
    trailing_distance = np.nan  # a fixed ATR distance; a fractional trail uses the fraction
    liquidation_level = np.nan
    bankruptcy_level = np.nan
    best = np.nan  # highest (long) or lowest (short) price since the fill, for the trail
    without_atr = 0
    # Stops are checked from bar `check_bar`, within it from candle `check_candle` (a detail
    # candle's index; -1: the whole bar).
    check_bar = n
    check_candle = -1
    prev_target = 0
    pending = 0  # a change of target at the last close, to fill at this open
    has_pending = False
    bars_held = 0
    closes_held = 0  # bar closes since the open position's fill, for the time stop
    time_exit_due = False
    limit_side = 0  # a working limit order: its side, price and bars [limit_from, limit_until]
    limit_price = np.nan
    limit_from = 0
    limit_until = -1
    unfilled = 0

    for t in range(s.trade_from, n):
        if (
            marks_quiet_bars
            and limit_side == 0
            and not (has_pending or time_exit_due)
            and target[t] == prev_target
            and (side == 0 or s.max_bars_in_trade == 0 or closes_held + 1 < s.max_bars_in_trade)
        ):
            if side != 0:
                closes_held += 1
                bars_held += 1
            equity[t - s.trade_from] = cash + side * qty * value(inverse, bar_close[t])
            continue
        has_detail = uses_detail and detail.stop[t] > detail.first[t]
        first = detail.first[t] if has_detail else 0
        stop = detail.stop[t] if has_detail else 1
        # Funding at the bar's open time is paid by the position coming into the bar.
        if books_funding and side != 0:
            rate = detail.funding_at_open[first] if has_detail else bars.funding_at_open[t]
            if rate != 0.0:
                mark = detail.mark_open[first] if has_detail else bars.mark_open[t]
                paid = side * share_of_value(inverse, rate, qty, mark)
                cash -= paid
                book.funding[trades - 1] += paid

        # The open: a time stop that came due at the last close, then its change of target.
        if time_exit_due:
            time_exit_due = False
            if side != 0:
                cash += _close_trade(
                    book, trades - 1, side, qty, bar_open[t], EXIT_TIME_STOP, t, AT_OPEN, -1, s
                )
                side = 0
        if has_pending:
            has_pending = False
            if side != 0 and side != pending:
                cash += _close_trade(
                    book, trades - 1, side, qty, bar_open[t], EXIT_SIGNAL, t, AT_OPEN, -1, s
                )
                side = 0
            # A bankrupt account (possible after a losing short) opens nothing.
            if not limits and pending != 0 and side == 0 and cash > 0.0:
                atr_at_fill = _atr_at(bars.atr, t - 1, uses_atr)
                entry = _open_trade(
                    book,
                    trades,
                    pending,
                    bar_open[t],
                    t,
                    AT_OPEN,
                    -1,
                    atr_at_fill,
                    cash,
                    s.fee_rate,
                    _size_at(bars.entry_size, t - 1),
                    s,
                )
                cash, qty, stop_loss_level, take_profit_level, trailing_distance = entry[:5]
                liquidation_level, bankruptcy_level = entry[5], entry[6]
                if uses_atr and np.isnan(atr_at_fill):
                    without_atr += 1
                side = pending
                trades += 1
                best = book.entry_price[trades - 1]
                closes_held = 0
                check_bar = t  # filled at an open, the rest of this bar can hit a stop
                check_candle = -1

        # Inside the bar, candle by candle: its detail candles, or the bar itself. Flat with no
        # working order, nothing can happen inside a bar: it is skipped.
        if not walks_candles or (side == 0 and (limit_side == 0 or t < limit_from)):
            stop = first
        for c in range(first, stop):
            located = c if has_detail else -1  # where a fill inside the bar is
            if has_detail:
                c_open, c_high, c_low = detail.open[c], detail.high[c], detail.low[c]
                m_open, m_high, m_low = detail.mark_open[c], detail.mark_high[c], detail.mark_low[c]
                at_open_rate = detail.funding_at_open[c] if books_funding and c > first else 0.0
                inside_rate = detail.funding_inside[c] if books_funding else 0.0
            else:
                c_open, c_high, c_low = bar_open[t], bar_high[t], bar_low[t]
                m_open, m_high, m_low = bars.mark_open[t], bars.mark_high[t], bars.mark_low[t]
                at_open_rate = 0.0
                inside_rate = bars.funding_inside[t] if books_funding else 0.0
            if side != 0 and at_open_rate != 0.0:
                paid = side * share_of_value(inverse, at_open_rate, qty, m_open)
                cash -= paid
                book.funding[trades - 1] += paid
            # A working limit order: at the candle's open when that is already better.
            limit_at_open = False
            limit_inside = False
            if limit_side != 0 and side == 0 and t >= limit_from and cash > 0.0:
                if limit_side * (limit_price - c_open) >= 0.0:
                    limit_at_open = True
                elif limit_side * (limit_price - (c_low if limit_side > 0 else c_high)) >= 0.0:
                    limit_inside = True
            if limit_at_open:
                atr_at_fill = _atr_at(bars.atr, t - 1, uses_atr)
                entry = _open_trade(
                    book,
                    trades,
                    limit_side,
                    c_open,
                    t,
                    AT_OPEN,
                    located,
                    atr_at_fill,
                    cash,
                    s.maker_fee_rate,
                    _size_at(bars.entry_size, limit_from - 1),
                    s,
                )
                cash, qty, stop_loss_level, take_profit_level, trailing_distance = entry[:5]
                liquidation_level, bankruptcy_level = entry[5], entry[6]
                if uses_atr and np.isnan(atr_at_fill):
                    without_atr += 1
                side = limit_side
                trades += 1
                best = book.entry_price[trades - 1]
                closes_held = 0
                check_bar = t  # at an open: this candle on
                check_candle = c if has_detail else -1
                limit_side = 0
            # Stops: at the candle's open, then (after a funding time inside it) inside it.
            reason = -1
            price = np.nan
            at_open = False
            if side != 0 and (t > check_bar or (t == check_bar and c >= check_candle)):
                trailing = trailing_level(side, best, s.trailing_stop, trailing_distance)
                if beyond(side, trailing, liquidation_level):
                    trailing = np.nan
                level, level_reason = nearer_stop(side, stop_loss_level, trailing)
                price, reason, at_open = stop_exit(
                    side,
                    level,
                    level_reason,
                    take_profit_level,
                    c_open,
                    c_high,
                    c_low,
                    liquidation_level,
                    bankruptcy_level,
                    m_open,
                    m_high,
                    m_low,
                )
                if reason >= 0 and at_open:
                    cash += _close_trade(
                        book, trades - 1, side, qty, price, reason, t, AT_OPEN, located, s
                    )
                    side = 0
            if side != 0 and inside_rate != 0.0:
                paid = side * share_of_value(inverse, inside_rate, qty, m_open)
                cash -= paid
                book.funding[trades - 1] += paid
            if reason >= 0 and not at_open:
                cash += _close_trade(
                    book, trades - 1, side, qty, price, reason, t, INSIDE, located, s
                )
                side = 0
            if limit_inside:
                atr_at_fill = _atr_at(bars.atr, t - 1, uses_atr)
                entry = _open_trade(
                    book,
                    trades,
                    limit_side,
                    limit_price,
                    t,
                    INSIDE,
                    located,
                    atr_at_fill,
                    cash,
                    s.maker_fee_rate,
                    _size_at(bars.entry_size, limit_from - 1),
                    s,
                )
                cash, qty, stop_loss_level, take_profit_level, trailing_distance = entry[:5]
                liquidation_level, bankruptcy_level = entry[5], entry[6]
                if uses_atr and np.isnan(atr_at_fill):
                    without_atr += 1
                side = limit_side
                trades += 1
                fill = book.entry_price[trades - 1]
                best = fill
                closes_held = 0
                limit_side = 0
                if has_detail:
                    check_bar = t  # from the next detail candle on
                    check_candle = c + 1
                else:
                    check_bar = t + 1
                    check_candle = -1
                    # The rest of the bar came after the fill: its low (a long; a short's
                    # high) against the stop loss, a trail from the fill and the liquidation.
                    trailing = trailing_level(side, best, s.trailing_stop, trailing_distance)
                    if beyond(side, trailing, liquidation_level):
                        trailing = np.nan
                    level, level_reason = nearer_stop(side, stop_loss_level, trailing)
                    price, reason, at_open = stop_exit(
                        side,
                        level,
                        level_reason,
                        np.nan,
                        fill,
                        fill if side > 0 else c_high,
                        c_low if side > 0 else fill,
                        liquidation_level,
                        bankruptcy_level,
                        np.nan,
                        m_high,
                        m_low,
                    )
                    if reason >= 0:
                        cash += _close_trade(
                            book, trades - 1, side, qty, price, reason, t, INSIDE, -1, s
                        )
                        side = 0
            # The trail follows detail candles that ended after the fill.
            if (
                has_detail
                and side != 0
                and (t > check_bar or (t == check_bar and c >= check_candle))
            ):
                best = max(best, c_high) if side > 0 else min(best, c_low)

        # The close.
        if side != 0:
            closes_held += 1
        if limit_side != 0 and t >= limit_until:
            limit_side = 0  # expired
            unfilled += 1
        if s.max_bars_in_trade > 0 and side != 0 and closes_held >= s.max_bars_in_trade:
            if s.fill_at_close:
                cash += _close_trade(
                    book, trades - 1, side, qty, bar_close[t], EXIT_TIME_STOP, t, AT_CLOSE, -1, s
                )
                side = 0
            elif t + 1 < n:
                time_exit_due = True
        if target[t] != prev_target:
            prev_target = target[t]
            if limit_side != 0:
                limit_side = 0  # cancelled by the change of target
                unfilled += 1
            if not s.fill_at_close:
                # No change on the last bar is filled after the data ends.
                if t + 1 < n:
                    pending = prev_target
                    has_pending = True
            else:
                if side != 0 and side != prev_target:
                    cash += _close_trade(
                        book, trades - 1, side, qty, bar_close[t], EXIT_SIGNAL, t, AT_CLOSE, -1, s
                    )
                    side = 0
                if not limits and prev_target != 0 and side == 0 and cash > 0.0:
                    atr_at_fill = _atr_at(bars.atr, t, uses_atr)
                    entry = _open_trade(
                        book,
                        trades,
                        prev_target,
                        bar_close[t],
                        t,
                        AT_CLOSE,
                        -1,
                        atr_at_fill,
                        cash,
                        s.fee_rate,
                        _size_at(bars.entry_size, t),
                        s,
                    )
                    cash, qty, stop_loss_level, take_profit_level, trailing_distance = entry[:5]
                    liquidation_level, bankruptcy_level = entry[5], entry[6]
                    if uses_atr and np.isnan(atr_at_fill):
                        without_atr += 1
                    side = prev_target
                    trades += 1
                    best = book.entry_price[trades - 1]
                    closes_held = 0
                    check_bar = t + 1  # filled at a close, stops are checked from the next bar
                    check_candle = -1
            if limits and prev_target != 0 and side != prev_target and t + 1 < n:
                limit_side = prev_target
                offset = s.limit_offset
                limit_price = bar_close[t] * (1.0 - offset if limit_side > 0 else 1.0 + offset)
                limit_from = t + 1
                limit_until = t + s.limit_valid_bars

        equity[t - s.trade_from] = cash + side * qty * value(inverse, bar_close[t])
        if side != 0:
            bars_held += 1
            # The trail follows bars that ended after the fill: an open fill's own bar, not a
            # close fill's (with detail, it followed the detail candles).
            if t >= check_bar and not has_detail:
                best = max(best, bar_high[t]) if side > 0 else min(best, bar_low[t])

    if side != 0:
        k = trades - 1
        book.exit_price[k] = bar_close[n - 1]
        gain = side * qty * (value(inverse, bar_close[n - 1]) - value(inverse, book.entry_price[k]))
        book.pnl[k] = gain - book.fees[k] - book.funding[k]
        book.reason[k] = EXIT_STILL_OPEN

    return Kernel(
        equity,
        bars_held,
        book.side[:trades],
        book.entry_bar[:trades],
        book.entry_price[:trades],
        book.exit_bar[:trades],
        book.exit_price[:trades],
        book.qty[:trades],
        book.pnl[:trades],
        book.fees[:trades],
        book.reason[:trades],
        book.funding[:trades],
        without_atr,
        unfilled,
        book.entry_at[:trades],
        book.entry_candle[:trades],
        book.exit_at[:trades],
        book.exit_candle[:trades],
        book.entry_equity[:trades],
    )


def trade_capacity(target: npt.NDArray[np.int8], trade_from: int) -> int:
    """An upper bound on trades: each one opens on a change of target."""
    window = target[trade_from:]
    if window.size == 0:
        return 0
    return int(np.count_nonzero(window[1:] != window[:-1])) + int(window[0] != 0)


def trade_returns(
    pnl: npt.NDArray[np.float64],
    qty: npt.NDArray[np.float64],
    entry_price: npt.NDArray[np.float64],
    inverse: bool,
) -> npt.NDArray[np.float64]:
    """Each trade's pnl over what it put in: quantity x entry (coins: quantity / entry)."""
    return pnl / (qty / entry_price) if inverse else pnl / (qty * entry_price)
