"""The path-dependent part: target positions in, fills, trades and marked equity out.

One compiled pass over the bars implements docs/simulation.md's fill rules: fills at the
next open or at the close, slippage, fees, sizing, reversals, shorts, stop loss, take
profit and trailing stop (each a fraction of the price, or a multiple of the ATR known at the
fill). Everything is per unit of account; quantities are fractional.

Perpetuals (docs/simulation.md, "Perpetual futures"): sizing with leverage, funding booked
before a bar's open fill, liquidation at the bankruptcy price checked against the mark price,
and inverse contracts, whose quantity is in USD and whose account is in the base coin: a
position of q contracts is worth -q/p coins at price p where a linear one is worth q * p, so
one set of cash formulas serves both through `_value`.
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
EXIT_LIQUIDATION = 5
EXIT_REASONS = ("signal", "stop_loss", "take_profit", "end", "trailing_stop", "liquidation")


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
    funding: npt.NDArray[np.float64]  # net funding paid over the trade (negative: received)
    # Trades that asked for an ATR stop while no ATR was known at their fill (so had none).
    without_atr: int


@njit(cache=True)
def _value(inverse: bool, price: float) -> float:
    """What one unit of quantity is worth at `price`, in the account's currency, up to a
    constant: the price for spot and linear, -1/price (coins per USD contract) for inverse."""
    return -1.0 / price if inverse else price


@njit(cache=True)
def _share_of_value(inverse: bool, rate: float, qty: float, price: float) -> float:
    """`rate` of the position's value in the account's currency (a fee, a funding payment);
    in the order the spot formula multiplies."""
    return rate * qty / price if inverse else rate * qty * price


@njit(cache=True)
def _liquidation_prices(
    inverse: bool, side: int, entry: float, leverage: float, mmr: float
) -> tuple[float, float]:
    """(liquidation price, bankruptcy price) of an isolated position; NaN: none."""
    margin = 1.0 / leverage
    if inverse:
        if side > 0:
            return entry / (1.0 + margin - mmr), entry / (1.0 + margin)
        if margin >= 1.0:
            return np.nan, np.nan  # a 1x inverse short can lose no more than its margin
        return entry / (1.0 - margin + mmr), entry / (1.0 - margin)
    if side > 0:
        return entry * (1.0 - margin + mmr), entry * (1.0 - margin)
    return entry * (1.0 + margin - mmr), entry * (1.0 + margin)


@njit(cache=True)
def _beyond(side: int, level: float, liquidation: float) -> bool:
    """A stop level the liquidation would come before (never set)."""
    return side * (liquidation - level) > 0.0


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
    liquidation_level: float,
    bankruptcy_level: float,
    mark_open: float,
    mark_high: float,
    mark_low: float,
) -> tuple[float, int]:
    """(price, reason) of a stop or liquidation in this bar, or (NaN, -1), checked in
    docs/simulation.md's order. NaN levels never hit."""
    if side > 0:
        if mark_open <= liquidation_level:
            return bankruptcy_level, EXIT_LIQUIDATION
        # A level the open is already past is hit first, at the open.
        if bar_open <= stop_level:
            return bar_open, stop_reason
        if bar_open >= take_profit_level:
            return bar_open, EXIT_TAKE_PROFIT
        if bar_low <= stop_level:
            return stop_level, stop_reason
        if mark_low <= liquidation_level:
            return bankruptcy_level, EXIT_LIQUIDATION
        if bar_high >= take_profit_level:
            return take_profit_level, EXIT_TAKE_PROFIT
    else:
        if mark_open >= liquidation_level:
            return bankruptcy_level, EXIT_LIQUIDATION
        if bar_open >= stop_level:
            return bar_open, stop_reason
        if bar_open <= take_profit_level:
            return bar_open, EXIT_TAKE_PROFIT
        if bar_high >= stop_level:
            return stop_level, stop_reason
        if mark_high >= liquidation_level:
            return bankruptcy_level, EXIT_LIQUIDATION
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
    inverse: bool,
    leverage: float,
    liquidates: bool,
    maintenance_margin_rate: float,
    mark_open: npt.NDArray[np.float64],
    mark_high: npt.NDArray[np.float64],
    mark_low: npt.NDArray[np.float64],
    funding_rate: npt.NDArray[np.float64],
) -> Kernel:
    """Stops: `x` a fraction of the price, `x_atr` a multiple of `atr` at the fill (the
    previous bar's for an open fill, the bar's own for a close fill); NaN: none.

    `mark_*`: the mark price per bar (the candles themselves when none is stored);
    `funding_rate`: the rates booked at each bar (summed), or empty for no funding."""
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
    t_funding = np.zeros(max_trades)
    books_funding = funding_rate.size > 0
    liquidation_level = np.nan
    bankruptcy_level = np.nan

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
        # Funding falls on the position held coming into the bar, before its open fill.
        if books_funding and side != 0 and funding_rate[t] != 0.0:
            paid = side * _share_of_value(inverse, funding_rate[t], qty, mark_open[t])
            cash -= paid
            t_funding[trades - 1] += paid
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
                if _beyond(side, trailing, liquidation_level):
                    trailing = np.nan
                stop_level, stop_reason = _nearer_stop(side, stop_loss_level, trailing)
                price, reason = _stop_exit_price(
                    side,
                    stop_level,
                    stop_reason,
                    take_profit_level,
                    bar_open[t],
                    bar_high[t],
                    bar_low[t],
                    liquidation_level,
                    bankruptcy_level,
                    mark_open[t],
                    mark_high[t],
                    mark_low[t],
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
                if reason == EXIT_LIQUIDATION:
                    fill = price  # the bankruptcy price, no fee: the gap to LP is the fee
                    fee = 0.0
                else:
                    fill = price * (1.0 - slippage) if side > 0 else price * (1.0 + slippage)
                    fee = _share_of_value(inverse, fee_rate, qty, fill)
                cash += side * qty * _value(inverse, fill) - fee
                t_exit_bar[k] = t
                t_exit_price[k] = fill
                t_fees[k] += fee
                gain = side * qty * (_value(inverse, fill) - _value(inverse, t_entry_price[k]))
                t_pnl[k] = gain - t_fees[k] - t_funding[k]
                t_reason[k] = reason
                side = 0
                qty = 0.0
                stop_loss_level = np.nan
                take_profit_level = np.nan
                trailing_distance = np.nan
                liquidation_level = np.nan
                bankruptcy_level = np.nan
            # A bankrupt account (possible after a losing short) opens nothing.
            if new_target != 0 and side == 0 and cash > 0.0:
                fill = price * (1.0 + slippage) if new_target > 0 else price * (1.0 - slippage)
                # At leverage 1 the spot formula: 1.0 / 1.0 + fee_rate is 1.0 + fee_rate.
                if inverse:
                    qty = cash * position_size * fill / (1.0 / leverage + fee_rate)
                else:
                    qty = cash * position_size / (fill * (1.0 / leverage + fee_rate))
                fee = _share_of_value(inverse, fee_rate, qty, fill)
                cash -= new_target * qty * _value(inverse, fill) + fee
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
                if liquidates:
                    liquidation_level, bankruptcy_level = _liquidation_prices(
                        inverse, side, fill, leverage, maintenance_margin_rate
                    )
                    if _beyond(side, stop_loss_level, liquidation_level):
                        stop_loss_level = np.nan
                best = fill
                # Filled at an open, the rest of this bar can hit a stop; at a close it cannot.
                check_stops_from = t if phase == 0 else t + 1

        equity[t - trade_from] = cash + side * qty * _value(inverse, bar_close[t])
        if side != 0:
            bars_held += 1
            # The trail follows bars that ended after the fill: an open fill's own bar, not a
            # close fill's.
            if t >= check_stops_from:
                best = max(best, bar_high[t]) if side > 0 else min(best, bar_low[t])

    if side != 0:
        k = trades - 1
        t_exit_price[k] = bar_close[n - 1]
        gain = side * qty * (_value(inverse, bar_close[n - 1]) - _value(inverse, t_entry_price[k]))
        t_pnl[k] = gain - t_fees[k] - t_funding[k]
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
        t_funding[:trades],
        without_atr,
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
