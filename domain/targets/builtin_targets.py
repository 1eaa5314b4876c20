"""The built-in strategies' targets: one function per registry entry of kind `builtin`.

Each function is bound to its entry by name as this module is imported, and the import fails
if a name is not a built-in of the registry or a built-in is left without a function.
"""

from collections.abc import Callable, Mapping
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

from domain.compiled_cache import njit
from domain.indicators import side, sma_pair_sides
from domain.strategies import BUILTIN_STRATEGIES
from domain.targets.indicator_cache import IndicatorCache

Targets = npt.NDArray[np.int8]
BoolArray = npt.NDArray[np.bool_]
Params = Mapping[str, int | float]
TargetsFunction = Callable[[IndicatorCache, Params], Targets]

_BUILTIN_NAMES = [entry.name for entry in BUILTIN_STRATEGIES]
_bound: dict[str, TargetsFunction] = {}


def _targets_of(name: str) -> Callable[[TargetsFunction], TargetsFunction]:
    if name not in _BUILTIN_NAMES:
        raise ImportError(f"{name!r} is not a built-in strategy of the registry")
    if name in _bound:
        raise ImportError(f"two targets functions for {name!r}")

    def bind(function: TargetsFunction) -> TargetsFunction:
        _bound[name] = function
        return function

    return bind


@njit(cache=True)
def _above_below_compiled(fast: npt.NDArray[np.float64], slow: npt.NDArray[np.float64]) -> Targets:
    targets = np.empty(fast.size, np.int8)
    for i in range(fast.size):
        targets[i] = side(fast[i], slow[i])
    return targets


def _above_below(fast: npt.NDArray[np.float64], slow: npt.NDArray[np.float64]) -> Targets:
    """1 where fast > slow, -1 where below, 0 where equal; NaN compares false both ways, so
    warm-up bars come out flat (one compiled pass: numpy's would take four)."""
    return _above_below_compiled(
        np.ascontiguousarray(fast, np.float64), np.ascontiguousarray(slow, np.float64)
    )


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


@_targets_of("sma_cross")
def _sma_cross(cache: IndicatorCache, p: Params) -> Targets:
    fast, slow = int(p["fast"]), int(p["slow"])
    if not cache.shared and not (cache.holds_sma(fast) or cache.holds_sma(slow)):
        return sma_pair_sides(cache.close, fast, slow)  # no set will ask for the SMAs again
    return _above_below(*cache.sma_pair(fast, slow))


@_targets_of("ema_cross")
def _ema_cross(cache: IndicatorCache, p: Params) -> Targets:
    return _above_below(cache.ema(int(p["fast"])), cache.ema(int(p["slow"])))


@_targets_of("macd")
def _macd(cache: IndicatorCache, p: Params) -> Targets:
    line, signal = cache.macd(int(p["fast"]), int(p["slow"]), int(p["signal"]))
    return _above_below(line, signal)


@_targets_of("rsi_reversion")
def _rsi_reversion(cache: IndicatorCache, p: Params) -> Targets:
    rsi = cache.rsi(int(p["period"]))
    oversold = rsi < float(p["lower"])
    overbought = rsi > float(p["upper"])
    return _enter_exit(oversold, overbought, overbought, oversold)


@_targets_of("bollinger_reversion")
def _bollinger_reversion(cache: IndicatorCache, p: Params) -> Targets:
    lower, middle, upper = cache.bollinger(int(p["period"]), float(p["k"]))
    close = cache.close
    return _enter_exit(close < lower, close > middle, close > upper, close < middle)


@_targets_of("donchian_breakout")
def _donchian_breakout(cache: IndicatorCache, p: Params) -> Targets:
    highest, lowest = cache.donchian(int(p["period"]))
    close = cache.close
    breakout_up = close > highest
    breakout_down = close < lowest
    return _enter_exit(breakout_up, breakout_down, breakout_down, breakout_up)


def _every_builtin_bound(bound: dict[str, TargetsFunction]) -> Mapping[str, TargetsFunction]:
    missing = [name for name in _BUILTIN_NAMES if name not in bound]
    if missing:
        raise ImportError(f"built-in strategies without targets: {', '.join(missing)}")
    return MappingProxyType(dict(bound))


BUILTIN_TARGETS = _every_builtin_bound(_bound)
