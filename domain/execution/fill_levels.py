"""The price levels of one position: what a unit is worth, its stops, its liquidation, and
which of them a candle reaches first (docs/simulation.md, "Simulation rules" and "Perpetual
futures"). Compiled helpers of the kernel in `simulate`; a candle is a bar or, with
`fill_detail`, one of its detail candles.
"""

import numpy as np

from domain.compiled_cache import njit
from domain.execution.settings import (
    EXIT_LIQUIDATION,
    EXIT_STOP_LOSS,
    EXIT_TAKE_PROFIT,
    EXIT_TRAILING_STOP,
)


@njit(cache=True)
def value(inverse: bool, price: float) -> float:
    """What one unit of quantity is worth at `price`, in the account's currency, up to a
    constant: the price for spot and linear, -1/price (coins per USD contract) for inverse."""
    return -1.0 / price if inverse else price


@njit(cache=True)
def share_of_value(inverse: bool, rate: float, qty: float, price: float) -> float:
    """`rate` of the position's value in the account's currency (a fee, a funding payment);
    in the order the spot formula multiplies."""
    return rate * qty / price if inverse else rate * qty * price


@njit(cache=True)
def liquidation_prices(
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
def beyond(side: int, level: float, liquidation: float) -> bool:
    """A stop level the liquidation would come before (never set)."""
    return side * (liquidation - level) > 0.0


@njit(cache=True)
def liquidated(side: int, mark: float, liquidation_level: float) -> bool:
    """A mark price at or past the liquidation price (NaN: none, never reached)."""
    return mark <= liquidation_level if side > 0 else mark >= liquidation_level


@njit(cache=True)
def stop_level(
    direction: int, fraction: float, atr_multiple: float, fill: float, atr_at_fill: float
) -> float:
    """A level `direction` (+1 above, -1 below) of the fill: by a fraction of the price, or
    by k ATRs; NaN: no such stop."""
    if not np.isnan(fraction):
        return fill * (1.0 + direction * fraction)
    return fill + direction * atr_multiple * atr_at_fill


@njit(cache=True)
def trailing_level(
    side: int, best: float, trailing_fraction: float, trailing_distance: float
) -> float:
    """The trailing stop's level from the best price since the fill; NaN: none."""
    if not np.isnan(trailing_fraction):
        return best * (1.0 - side * trailing_fraction)
    return best - side * trailing_distance


@njit(cache=True)
def nearer_stop(side: int, stop_loss_level: float, trailing_level: float) -> tuple[float, int]:
    """The stop level that applies (the one nearer the price) and its exit reason."""
    if np.isnan(trailing_level):
        return stop_loss_level, EXIT_STOP_LOSS
    if np.isnan(stop_loss_level) or side * (trailing_level - stop_loss_level) > 0.0:
        return trailing_level, EXIT_TRAILING_STOP
    return stop_loss_level, EXIT_STOP_LOSS


@njit(cache=True)
def stop_exit(
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
) -> tuple[float, int, bool]:
    """(price, reason, at the open) of a stop or liquidation in this candle, or (NaN, -1,
    False), checked in docs/simulation.md's order. NaN levels never hit."""
    if side > 0:
        if liquidated(side, mark_open, liquidation_level):
            return bankruptcy_level, EXIT_LIQUIDATION, True
        # A level the open is already past is hit first, at the open.
        if bar_open <= stop_level:
            return bar_open, stop_reason, True
        if bar_open >= take_profit_level:
            return bar_open, EXIT_TAKE_PROFIT, True
        if bar_low <= stop_level:
            return stop_level, stop_reason, False
        if liquidated(side, mark_low, liquidation_level):
            return bankruptcy_level, EXIT_LIQUIDATION, False
        if bar_high >= take_profit_level:
            return take_profit_level, EXIT_TAKE_PROFIT, False
    else:
        if liquidated(side, mark_open, liquidation_level):
            return bankruptcy_level, EXIT_LIQUIDATION, True
        if bar_open >= stop_level:
            return bar_open, stop_reason, True
        if bar_open <= take_profit_level:
            return bar_open, EXIT_TAKE_PROFIT, True
        if bar_high >= stop_level:
            return stop_level, stop_reason, False
        if liquidated(side, mark_high, liquidation_level):
            return bankruptcy_level, EXIT_LIQUIDATION, False
        if bar_low <= take_profit_level:
            return take_profit_level, EXIT_TAKE_PROFIT, False
    return np.nan, -1, False
