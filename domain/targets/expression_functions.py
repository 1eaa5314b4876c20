"""The expression language's functions over float64 arrays (NaN: missing), by name.

`RuleEvaluator` computes their arguments and caches their results; here is only what each
function does to its arguments: windowed functions of one series, elementwise functions,
and the functions of the candles themselves (high, low, close, volume).
"""

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from domain import indicators
from domain.market.candles import Candles
from domain.market.intervals import DAY_MS
from domain.strategies.expressions import Node, window_value
from domain.targets import market_indicators

FloatArray = npt.NDArray[np.float64]
Value = FloatArray | float  # a series, or a constant (NaN when missing)


def window(node: Node, minimum: int) -> int:
    """A window argument (parameters filled in) as an int."""
    value = window_value(node, {}, minimum)
    if value is None:
        # The API checks windows at every parameter set it accepts; this is a guard.
        raise ValueError(f"window out of range: {node!r}")
    return value


def finite(value: Value) -> Value:
    """Infinities (an overflow) are missing values too."""
    if isinstance(value, float):
        return value if np.isfinite(value) else float("nan")
    return np.where(np.isfinite(value), value, np.nan)


def arithmetic(op: str, left: Value, right: Value) -> Value:
    with np.errstate(all="ignore"):
        if op == "+":
            result = np.add(left, right)
        elif op == "-":
            result = np.subtract(left, right)
        elif op == "*":
            result = np.multiply(left, right)
        else:
            result = np.divide(left, right)
            result = np.where(np.equal(right, 0.0), np.nan, result)
    if np.ndim(result) == 0:
        return finite(float(result))
    return finite(np.asarray(result, np.float64))


def shift(x: FloatArray, k: int) -> FloatArray:
    if k == 0:
        return x
    out = np.full(x.size, np.nan)
    out[k:] = x[:-k]
    return out


def per_finite_run(
    function: Callable[[FloatArray, int], FloatArray], x: FloatArray, size: int
) -> FloatArray:
    """`function` applied to each stretch of x without missing values: a window never spans
    a missing value, and after one each function starts over as at the first bar."""
    missing = np.isnan(x)
    if not missing.any():
        return function(x, size)
    out = np.full(x.size, np.nan)
    edges = np.flatnonzero(np.diff(np.concatenate(([True], missing, [True])).astype(np.int8)))
    for start, stop in zip(edges[::2], edges[1::2], strict=True):
        out[start:stop] = function(np.ascontiguousarray(x[start:stop]), size)
    return out


def time_series(open_time: npt.NDArray[np.int64], name: str) -> FloatArray:
    """`hour`, `minute`, `weekday` (0 = Monday), `day` (1..31) or `month` (1..12) of each
    open time, in UTC."""
    t = np.asarray(open_time, np.int64)
    if name == "hour":
        values = t // 3_600_000 % 24
    elif name == "minute":
        values = t // 60_000 % 60
    elif name == "weekday":
        values = (t // DAY_MS + 3) % 7  # 1970-01-01 was a Thursday
    else:
        days = t.astype("datetime64[ms]").astype("datetime64[D]")
        months = days.astype("datetime64[M]")
        if name == "day":
            values = (days - months.astype("datetime64[D]")).astype(np.int64) + 1
        else:
            values = months.astype(np.int64) % 12 + 1
    return values.astype(np.float64)


def _stdev(x: FloatArray, n: int) -> FloatArray:
    return indicators.rolling_population_std(x, indicators.sma(x, n), n)


def _zscore(x: FloatArray, n: int) -> FloatArray:
    deviation = _stdev(x, n)
    with np.errstate(all="ignore"):
        score = (x - indicators.sma(x, n)) / deviation
    return np.where(deviation == 0.0, np.nan, score)


def _after_warmup(function: Callable[[FloatArray, int], FloatArray]) -> Callable[..., FloatArray]:
    """`function` over x from its first value on (x starts with its warm-up's NaNs)."""

    def apply(x: FloatArray, n: int) -> FloatArray:
        out = np.full(x.size, np.nan)
        valid = np.flatnonzero(~np.isnan(x))
        if valid.size:
            out[valid[0] :] = function(np.ascontiguousarray(x[valid[0] :]), n)
        return out

    return apply


def _hma(x: FloatArray, n: int) -> FloatArray:
    """wma(2 x wma(x, floor(n/2)) - wma(x, n), floor(sqrt(n)))."""
    raw = 2.0 * indicators.wma(x, n // 2) - indicators.wma(x, n)
    return _after_warmup(indicators.wma)(raw, int(np.floor(np.sqrt(n))))


WINDOWED: dict[str, Callable[[FloatArray, int], FloatArray]] = {
    "sma": indicators.sma,
    "ema": indicators.ema,
    "rma": indicators.rma,
    "rsi": indicators.rsi,
    "stdev": _stdev,
    "highest": lambda x, n: indicators.rolling_extreme(x, n, take_max=True),
    "lowest": lambda x, n: indicators.rolling_extreme(x, n, take_max=False),
    "sum": indicators.rolling_sum,
    "wma": indicators.wma,
    "hma": _hma,
    "zscore": _zscore,
    "percent_rank": indicators.percent_rank,
}


def _log(x: Value) -> Value:
    with np.errstate(all="ignore"):
        return finite(np.where(np.greater(x, 0.0), np.log(np.maximum(x, 1e-300)), np.nan))


def _sqrt(x: Value) -> Value:
    with np.errstate(all="ignore"):
        return finite(np.where(np.greater_equal(x, 0.0), np.sqrt(np.abs(x)), np.nan))


def _round_half_away(x: Value) -> Value:
    whole = np.trunc(x)
    return whole + np.where(np.abs(np.subtract(x, whole)) >= 0.5, np.sign(x), 0.0)


def _scalar_or_array(function: Callable[..., Any]) -> Callable[..., Value]:
    def apply(*values: Value) -> Value:
        result = function(*values)
        return float(result) if np.ndim(result) == 0 else np.asarray(result, np.float64)

    return apply


ELEMENTWISE: dict[str, Callable[..., Value]] = {
    "abs": _scalar_or_array(np.abs),
    "min": _scalar_or_array(np.minimum),
    "max": _scalar_or_array(np.maximum),
    "log": _scalar_or_array(_log),
    "sqrt": _scalar_or_array(_sqrt),
    "floor": _scalar_or_array(np.floor),
    "ceil": _scalar_or_array(np.ceil),
    "round": _scalar_or_array(_round_half_away),
}


def _vwap(c: Candles, n: float) -> FloatArray:
    typical = (np.asarray(c.high) + np.asarray(c.low) + np.asarray(c.close)) / 3
    volume = np.asarray(c.volume, np.float64)
    weighted = indicators.rolling_sum(typical * volume, int(n))
    total = indicators.rolling_sum(volume, int(n))
    with np.errstate(all="ignore"):
        return np.where(total == 0.0, np.nan, weighted / total)


def _directional(part: int) -> Callable[[Candles, float], FloatArray]:
    def apply(c: Candles, n: float) -> FloatArray:
        return market_indicators.directional(c.high, c.low, c.close, int(n))[part]

    return apply


# Functions of the candles themselves, by their constant arguments.
CANDLE_FUNCTIONS: dict[str, Callable[..., FloatArray]] = {
    "atr": lambda c, n: indicators.atr(c.high, c.low, c.close, int(n)),
    "vwap": _vwap,
    "plus_di": _directional(0),
    "minus_di": _directional(1),
    "adx": _directional(2),
    "cci": lambda c, n: market_indicators.cci(c.high, c.low, c.close, int(n)),
    "willr": lambda c, n: market_indicators.willr(c.high, c.low, c.close, int(n)),
    "mfi": lambda c, n: market_indicators.mfi(c.high, c.low, c.close, c.volume, int(n)),
    "natr": lambda c, n: market_indicators.natr(c.high, c.low, c.close, int(n)),
    "obv": lambda c: market_indicators.obv(c.close, c.volume),
    "stoch_k": lambda c, n, ks: market_indicators.stochastic(
        c.high, c.low, c.close, int(n), int(ks), 1
    )[0],
    "stoch_d": lambda c, n, ks, ds: market_indicators.stochastic(
        c.high, c.low, c.close, int(n), int(ks), int(ds)
    )[1],
    "supertrend": lambda c, n, k: market_indicators.supertrend(c.high, c.low, c.close, int(n), k),
}
