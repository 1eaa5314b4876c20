"""The path-dependent part: target positions in, fills, trades and marked equity out.

One compiled pass over the bars implements docs/simulation.md's fill rules: fills at the
next open or at the close, slippage, fees, sizing, reversals, shorts, stop loss, take
profit and trailing stop (each a fraction of the price, or a multiple of the ATR known at the
fill). Everything is per unit of account; quantities are fractional.
"""

from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from numba import njit

EXIT_SIGNAL = 0
EXIT_STOP_LOSS = 1
EXIT_TAKE_PROFIT = 2
EXIT_STILL_OPEN = 3
EXIT_TRAILING_STOP = 4
EXIT_REASONS = ("signal", "stop_loss", "take_profit", "end", "trailing_stop")


class Kernel(NamedTuple):
    """The kernel's raw output; trade arrays are already cut to the number of trades."""

    equity: npt.NDArray[np.float64]  # one per bar from trade_from, marked at the close
    bars_held: int  # bars that ended holding a position
    side: npt.NDArray[np.int8]  # +1 long, -1 short
    entry_bar: npt.NDArray[np.int64]
    entry_price: npt.NDArray[np.float64]
    exit_bar: npt.NDArray[np.int64]  # -1 while still open at the end
    exit_price: npt.NDArray[np.float64]  # the last close for a trade still open
    qty: npt.NDArray[np.float64]
    pnl: npt.NDArray[np.float64]
    fees: npt.NDArray[np.float64]
    exit_reason: npt.NDArray[np.int8]
    # Trades that asked for an ATR stop while no ATR was known at their fill (so had none).
    without_atr: int


@njit(cache=True)
def _stop_level(
    direction: int, fraction: float, atr_multiple: float, fill: float, atr_at_fill: float
) -> float:
    """A level `direction` (+1 above, -1 below) of the fill: by a fraction of the price, or
    by k ATRs; NaN: no such stop."""
    if not np.isnan(fraction):
        return fill * (1.0 + direction * fraction)
    return fill + direction * atr_multiple * atr_at_fill


@njit(cache=True)
def _trailing_level(
    side: int, best: float, trailing_fraction: float, trailing_distance: float
) -> float:
    """The trailing stop's level from the best price since the fill; NaN: none."""
    if not np.isnan(trailing_fraction):
        return best * (1.0 - side * trailing_fraction)
    return best - side * trailing_distance


@njit(cache=True)
def _nearer_stop(side: int, stop_loss_level: float, trailing_level: float) -> tuple[float, int]:
    """The stop level that applies (the one nearer the price) and its exit reason."""
    if np.isnan(trailing_level):
        return stop_loss_level, EXIT_STOP_LOSS
    if np.isnan(stop_loss_level) or side * (trailing_level - stop_loss_level) > 0.0:
        return trailing_level, EXIT_TRAILING_STOP
    return stop_loss_level, EXIT_STOP_LOSS


@njit(cache=True)
def _stop_exit_price(
    side: int,
    stop_level: float,
    stop_reason: int,
    take_profit_level: float,
    bar_open: float,
    bar_high: float,
    bar_low: float,
) -> tuple[float, int]:
    """(price, reason) of a stop hit in this bar, or (NaN, -1). NaN levels never hit."""
    if side > 0:
        # A level the open is already past is hit first, at the open.
        if bar_open <= stop_level:
            return bar_open, stop_reason
        if bar_open >= take_profit_level:
            return bar_open, EXIT_TAKE_PROFIT
        if bar_low <= stop_level:
            return stop_level, stop_reason
        if bar_high >= take_profit_level:
            return take_profit_level, EXIT_TAKE_PROFIT
    else:
        if bar_open >= stop_level:
            return bar_open, stop_reason
        if bar_open <= take_profit_level:
            return bar_open, EXIT_TAKE_PROFIT
        if bar_high >= stop_level:
            return stop_level, stop_reason
        if bar_low <= take_profit_level:
            return take_profit_level, EXIT_TAKE_PROFIT
    return np.nan, -1


@njit(cache=True)
def simulate_kernel(
    bar_open: npt.NDArray[np.float64],
    bar_high: npt.NDArray[np.float64],
    bar_low: npt.NDArray[np.float64],
    bar_close: npt.NDArray[np.float64],
    target: npt.NDArray[np.int8],
    trade_from: int,
    fill_at_close: bool,
    initial_capital: float,
    fee_rate: float,
    slippage: float,
    position_size: float,
    stop_loss: float,
    take_profit: float,
    max_trades: int,
    stop_loss_atr: float,
    take_profit_atr: float,
    trailing_stop: float,
    trailing_stop_atr: float,
    atr: npt.NDArray[np.float64],
) -> Kernel:
    """Stops: `x` a fraction of the price, `x_atr` a multiple of `atr` at the fill (the
    previous bar's for an open fill, the bar's own for a close fill); NaN: none."""
    n = bar_close.size
    equity = np.empty(n - trade_from)
    t_side = np.zeros(max_trades, np.int8)
    t_entry_bar = np.zeros(max_trades, np.int64)
    t_entry_price = np.zeros(max_trades)
    t_exit_bar = np.full(max_trades, -1, np.int64)
    t_exit_price = np.zeros(max_trades)
    t_qty = np.zeros(max_trades)
    t_pnl = np.zeros(max_trades)
    t_fees = np.zeros(max_trades)
    t_reason = np.zeros(max_trades, np.int8)

    cash = initial_capital
    side = 0  # current position: +1, -1 or 0
    qty = 0.0
    trades = 0  # index of the next trade; the open one is trades - 1
    stop_loss_level = np.nan
    take_profit_level = np.nan
    trailing_distance = np.nan  # a fixed ATR distance; a fractional trail uses the fraction
    best = np.nan  # highest (long) or lowest (short) price since the fill, for the trail
    uses_atr = not (np.isnan(stop_loss_atr) and np.isnan(take_profit_atr))
    uses_atr = uses_atr or not np.isnan(trailing_stop_atr)
    without_atr = 0
    check_stops_from = n
    prev_target = 0
    pending = 0
    has_pending = False
    bars_held = 0

    for t in range(trade_from, n):
        for phase in range(3):  # 0: the open, 1: inside the bar, 2: the close
            new_target = 0
            price = np.nan
            reason = EXIT_SIGNAL
            if phase == 0:
                if not has_pending:
                    continue
                has_pending = False
                new_target = pending
                price = bar_open[t]
            elif phase == 1:
                if side == 0 or t < check_stops_from:
                    continue
                trailing = _trailing_level(side, best, trailing_stop, trailing_distance)
                stop_level, stop_reason = _nearer_stop(side, stop_loss_level, trailing)
                price, reason = _stop_exit_price(
                    side,
                    stop_level,
                    stop_reason,
                    take_profit_level,
                    bar_open[t],
                    bar_high[t],
                    bar_low[t],
                )
                if reason < 0:
                    continue
                new_target = 0  # the target itself is unchanged: no re-entry until it changes
            else:
                if target[t] == prev_target:
                    continue
                prev_target = target[t]
                if not fill_at_close:
                    # No change on the last bar is filled after the data ends.
                    if t + 1 < n:
                        pending = prev_target
                        has_pending = True
                    continue
                new_target = prev_target
                price = bar_close[t]

            if side != 0 and side != new_target:
                k = trades - 1
                fill = price * (1.0 - slippage) if side > 0 else price * (1.0 + slippage)
                fee = fee_rate * qty * fill
                cash += side * qty * fill - fee
                t_exit_bar[k] = t
                t_exit_price[k] = fill
                t_fees[k] += fee
                t_pnl[k] = side * qty * (fill - t_entry_price[k]) - t_fees[k]
                t_reason[k] = reason
                side = 0
                qty = 0.0
                stop_loss_level = np.nan
                take_profit_level = np.nan
                trailing_distance = np.nan
            # A bankrupt account (possible after a losing short) opens nothing.
            if new_target != 0 and side == 0 and cash > 0.0:
                fill = price * (1.0 + slippage) if new_target > 0 else price * (1.0 - slippage)
                qty = cash * position_size / (fill * (1.0 + fee_rate))
                fee = fee_rate * qty * fill
                cash -= new_target * qty * fill + fee
                side = new_target
                k = trades
                trades += 1
                t_side[k] = side
                t_entry_bar[k] = t
                t_entry_price[k] = fill
                t_qty[k] = qty
                t_fees[k] = fee
                known_at = t - 1 if phase == 0 else t
                atr_at_fill = atr[known_at] if uses_atr and known_at >= 0 else np.nan
                if uses_atr and np.isnan(atr_at_fill):
                    without_atr += 1
                stop_loss_level = _stop_level(-side, stop_loss, stop_loss_atr, fill, atr_at_fill)
                take_profit_level = _stop_level(
                    side, take_profit, take_profit_atr, fill, atr_at_fill
                )
                trailing_distance = trailing_stop_atr * atr_at_fill
                best = fill
                # Filled at an open, the rest of this bar can hit a stop; at a close it cannot.
                check_stops_from = t if phase == 0 else t + 1

        equity[t - trade_from] = cash + side * qty * bar_close[t]
        if side != 0:
            bars_held += 1
            # The trail follows bars that ended after the fill: an open fill's own bar, not a
            # close fill's.
            if t >= check_stops_from:
                best = max(best, bar_high[t]) if side > 0 else min(best, bar_low[t])

    if side != 0:
        k = trades - 1
        t_exit_price[k] = bar_close[n - 1]
        t_pnl[k] = side * qty * (bar_close[n - 1] - t_entry_price[k]) - t_fees[k]
        t_reason[k] = EXIT_STILL_OPEN

    return Kernel(
        equity,
        bars_held,
        t_side[:trades],
        t_entry_bar[:trades],
        t_entry_price[:trades],
        t_exit_bar[:trades],
        t_exit_price[:trades],
        t_qty[:trades],
        t_pnl[:trades],
        t_fees[:trades],
        t_reason[:trades],
        without_atr,
    )


def trade_capacity(target: npt.NDArray[np.int8], trade_from: int) -> int:
    """An upper bound on trades: each one opens on a change of target."""
    window = target[trade_from:]
    if window.size == 0:
        return 0
    return int(np.count_nonzero(window[1:] != window[:-1])) + int(window[0] != 0)
