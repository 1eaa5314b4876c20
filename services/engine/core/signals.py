"""Strategies: candles (through an indicator cache) in, a target position per bar out.

Targets are int8 in {+1, 0, -1}, decided from data up to each bar's close; warm-up is flat.
"""

from collections.abc import Callable, Mapping
from typing import Literal

import numpy as np
import numpy.typing as npt

from services.engine.core.indicator_cache import IndicatorCache

Direction = Literal["long_only", "short_only", "long_short"]
Targets = npt.NDArray[np.int8]
BoolArray = npt.NDArray[np.bool_]
Params = Mapping[str, int | float]


def _above_below(fast: npt.NDArray[np.float64], slow: npt.NDArray[np.float64]) -> Targets:
    # NaN compares false both ways, so warm-up bars come out flat.
    return (fast > slow).astype(np.int8) - (fast < slow).astype(np.int8)


def _held(enter: BoolArray, leave: BoolArray) -> Targets:
    """1 from each bar where `enter` holds until the next bar where `leave` holds, else 0."""
    events = np.where(enter, 1, np.where(leave, 0, -1)).astype(np.int8)
    index = np.where(events >= 0, np.arange(events.size), -1)
    last_event = np.maximum.accumulate(index) if index.size else index
    return np.where(last_event >= 0, events[last_event], 0).astype(np.int8)


def _enter_exit(
    long_enter: BoolArray, long_exit: BoolArray, short_enter: BoolArray, short_exit: BoolArray
) -> Targets:
    # Entering one side is always also an exit condition of the other in these strategies,
    # so the two held states never overlap and their difference is the target.
    held_long = _held(long_enter, long_exit)
    held_short = _held(short_enter, short_exit)
    return (held_long - held_short).astype(np.int8)


def _sma_cross(cache: IndicatorCache, p: Params) -> Targets:
    return _above_below(cache.sma(int(p["fast"])), cache.sma(int(p["slow"])))


def _ema_cross(cache: IndicatorCache, p: Params) -> Targets:
    return _above_below(cache.ema(int(p["fast"])), cache.ema(int(p["slow"])))


def _macd(cache: IndicatorCache, p: Params) -> Targets:
    line, signal = cache.macd(int(p["fast"]), int(p["slow"]), int(p["signal"]))
    return _above_below(line, signal)


def _rsi_reversion(cache: IndicatorCache, p: Params) -> Targets:
    rsi = cache.rsi(int(p["period"]))
    oversold = rsi < float(p["lower"])
    overbought = rsi > float(p["upper"])
    return _enter_exit(oversold, overbought, overbought, oversold)


def _bollinger_reversion(cache: IndicatorCache, p: Params) -> Targets:
    lower, middle, upper = cache.bollinger(int(p["period"]), float(p["k"]))
    close = cache.close
    return _enter_exit(close < lower, close > middle, close > upper, close < middle)


def _donchian_breakout(cache: IndicatorCache, p: Params) -> Targets:
    highest, lowest = cache.donchian(int(p["period"]))
    close = cache.close
    breakout_up = close > highest
    breakout_down = close < lowest
    return _enter_exit(breakout_up, breakout_down, breakout_down, breakout_up)


STRATEGY_TARGETS: dict[str, Callable[[IndicatorCache, Params], Targets]] = {
    "sma_cross": _sma_cross,
    "ema_cross": _ema_cross,
    "macd": _macd,
    "rsi_reversion": _rsi_reversion,
    "bollinger_reversion": _bollinger_reversion,
    "donchian_breakout": _donchian_breakout,
}


def allow_direction(targets: Targets, direction: Direction) -> Targets:
    """Drop the side the direction forbids: long_only maps -1 to 0, short_only +1 to 0."""
    if direction == "long_only":
        return np.maximum(targets, 0).astype(np.int8)
    if direction == "short_only":
        return np.minimum(targets, 0).astype(np.int8)
    return targets


def target_positions(
    cache: IndicatorCache, strategy: str, params: Params, direction: Direction
) -> Targets:
    """The target position per bar of a built-in strategy (params already resolved)."""
    try:
        compute = STRATEGY_TARGETS[strategy]
    except KeyError:
        raise ValueError(f"unknown strategy {strategy!r}") from None
    return allow_direction(compute(cache, params), direction)
