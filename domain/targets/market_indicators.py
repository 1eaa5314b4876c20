"""Indicators of a bar's high, low, close and volume, as TA-Lib computes them.

Each loop follows TA-Lib's own (its seeding, its order of operations, its value where a
denominator is zero, its dead zone where two prices differ by rounding alone), so the
results equal TA-Lib's functions of the same name to rounding from TA-Lib's first value on;
NaN before it.
"""

import numpy as np
import numpy.typing as npt

from domain import indicators
from domain.compiled_cache import njit

FloatArray = npt.NDArray[np.float64]
# TA-Lib's dead zone: a difference within this share of the magnitudes compared is none.
DEAD_ZONE = 1e-14


def _contiguous(*columns: FloatArray) -> tuple[FloatArray, ...]:
    return tuple(np.ascontiguousarray(c, np.float64) for c in columns)


@njit(cache=True)
def _directional_movement(
    high: FloatArray, low: FloatArray, close: FloatArray, t: int
) -> tuple[float, float, float]:
    """(+DM, -DM, true range) of bar t >= 1."""
    up = high[t] - high[t - 1]
    down = low[t - 1] - low[t]
    plus = 0.0
    minus = 0.0
    if down > 0 and up < down:
        minus = down
    elif up > 0 and up > down:
        plus = up
    previous = close[t - 1]
    tr = max(high[t] - low[t], abs(high[t] - previous), abs(low[t] - previous))
    return plus, minus, tr


@njit(cache=True)
def _directional(
    high: FloatArray, low: FloatArray, close: FloatArray, period: int
) -> tuple[FloatArray, FloatArray, FloatArray]:
    n = close.size
    plus_di = np.full(n, np.nan)
    minus_di = np.full(n, np.nan)
    adx = np.full(n, np.nan)
    plus_dm = 0.0
    minus_dm = 0.0
    tr = 0.0
    for t in range(1, min(period, n)):
        p, m, r = _directional_movement(high, low, close, t)
        plus_dm += p
        minus_dm += m
        tr += r
    sum_dx = 0.0
    average = np.nan
    for t in range(period, n):
        p, m, r = _directional_movement(high, low, close, t)
        plus_dm = plus_dm - plus_dm / period + p
        minus_dm = minus_dm - minus_dm / period + m
        tr = tr - tr / period + r
        dx = np.nan
        if tr != 0.0:
            plus_di[t] = 100.0 * (plus_dm / tr)
            minus_di[t] = 100.0 * (minus_dm / tr)
            total = minus_di[t] + plus_di[t]
            if total != 0.0:
                dx = 100.0 * (abs(minus_di[t] - plus_di[t]) / total)
        else:
            plus_di[t] = 0.0
            minus_di[t] = 0.0
        if t < 2 * period - 1:
            if not np.isnan(dx):
                sum_dx += dx
        elif t == 2 * period - 1:
            if not np.isnan(dx):
                sum_dx += dx
            average = sum_dx / period
            adx[t] = average
        else:
            # A bar with no range or no direction keeps the previous ADX, as TA-Lib's does.
            if not np.isnan(dx):
                average = (average * (period - 1) + dx) / period
            adx[t] = average
    return plus_di, minus_di, adx


def directional(
    high: FloatArray, low: FloatArray, close: FloatArray, period: int
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(+DI, -DI, ADX) of Wilder: TA-Lib's `PLUS_DI`, `MINUS_DI` (from bar n) and `ADX`
    (from bar 2n - 1)."""
    h, low_, c = _contiguous(high, low, close)
    return _directional(h, low_, c, period)


@njit(cache=True)
def _cci(high: FloatArray, low: FloatArray, close: FloatArray, period: int) -> FloatArray:
    n = close.size
    out = np.full(n, np.nan)
    ring = np.zeros(period)
    for t in range(n):
        typical = (high[t] + low[t] + close[t]) / 3
        ring[t % period] = typical
        if t < period - 1:
            continue
        average = 0.0
        for j in range(period):
            average += ring[j]
        average /= period
        deviation = 0.0
        for j in range(period):
            deviation += abs(ring[j] - average)
        distance = typical - average
        flat = abs(distance) <= DEAD_ZONE * (abs(typical) + abs(average))
        if not flat and deviation != 0.0:
            out[t] = distance / (0.015 * (deviation / period))
        else:
            out[t] = 0.0
    return out


def cci(high: FloatArray, low: FloatArray, close: FloatArray, period: int) -> FloatArray:
    """Commodity channel index: (typical - its mean) / (0.015 x mean absolute deviation);
    TA-Lib's `CCI`."""
    h, low_, c = _contiguous(high, low, close)
    return _cci(h, low_, c, period)


def willr(high: FloatArray, low: FloatArray, close: FloatArray, period: int) -> FloatArray:
    """Williams' %R: -100 x (highest high - close) / (highest high - lowest low) over n
    bars, 0 where the range is 0; TA-Lib's `WILLR`."""
    h, low_, c = _contiguous(high, low, close)
    highest = indicators.rolling_extreme(h, period, take_max=True)
    lowest = indicators.rolling_extreme(low_, period, take_max=False)
    with np.errstate(all="ignore"):
        scale = (highest - lowest) / -100.0
        return np.where(scale != 0.0, (highest - c) / scale, np.where(np.isnan(scale), np.nan, 0.0))


@njit(cache=True)
def _mfi(
    high: FloatArray, low: FloatArray, close: FloatArray, volume: FloatArray, period: int
) -> FloatArray:
    n = close.size
    out = np.full(n, np.nan)
    if n <= period:
        return out
    positive = np.zeros(period)
    negative = np.zeros(period)
    positive_sum = 0.0
    negative_sum = 0.0
    without_flow = 0  # bars in a row that carried no money flow
    previous = (high[0] + low[0] + close[0]) / 3.0
    for t in range(1, n):
        slot = (t - 1) % period
        if t > period:
            positive_sum -= positive[slot]
            negative_sum -= negative[slot]
        typical = (high[t] + low[t] + close[t]) / 3.0
        change = typical - previous
        magnitude = abs(typical) + abs(previous)
        previous = typical
        flow = 0.0 if abs(change) <= DEAD_ZONE * magnitude else typical * volume[t]
        positive[slot] = 0.0 if change < 0.0 else flow
        negative[slot] = flow if change < 0.0 else 0.0
        positive_sum += positive[slot]
        negative_sum += negative[slot]
        without_flow = without_flow + 1 if flow == 0.0 else 0
        if without_flow >= period:
            # A whole window without flow: the sums are exactly zero, not a drifted residue.
            without_flow = period
            positive_sum = 0.0
            negative_sum = 0.0
        if t >= period:
            total = positive_sum + negative_sum
            share = min(max(positive_sum, 0.0), total)
            out[t] = 0.0 if total <= 0.0 else 100.0 * (share / total)
    return out


def mfi(
    high: FloatArray, low: FloatArray, close: FloatArray, volume: FloatArray, period: int
) -> FloatArray:
    """Money flow index: 100 x rising typical-price flow / all flow over n bars, 0 in a
    window without flow; TA-Lib's `MFI`."""
    h, low_, c, v = _contiguous(high, low, close, volume)
    return _mfi(h, low_, c, v, period)


def natr(high: FloatArray, low: FloatArray, close: FloatArray, period: int) -> FloatArray:
    """ATR as a percentage of the close; TA-Lib's `NATR`."""
    h, low_, c = _contiguous(high, low, close)
    with np.errstate(all="ignore"):
        return np.where(c != 0.0, (indicators.atr(h, low_, c, period) / c) * 100.0, 0.0)


@njit(cache=True)
def _obv(close: FloatArray, volume: FloatArray) -> FloatArray:
    out = np.full(close.size, np.nan)
    if close.size == 0:
        return out
    total = volume[0]
    previous = close[0]
    for t in range(close.size):
        if close[t] > previous:
            total += volume[t]
        elif close[t] < previous:
            total -= volume[t]
        out[t] = total
        previous = close[t]
    return out


def obv(close: FloatArray, volume: FloatArray) -> FloatArray:
    """On-balance volume from the first bar's volume on; TA-Lib's `OBV`."""
    c, v = _contiguous(close, volume)
    return _obv(c, v)


def fast_stochastic(
    high: FloatArray, low: FloatArray, close: FloatArray, period: int
) -> FloatArray:
    """%K: 100 x (close - lowest low) / (highest high - lowest low) over n bars, 0 where
    the range is 0."""
    h, low_, c = _contiguous(high, low, close)
    highest = indicators.rolling_extreme(h, period, take_max=True)
    lowest = indicators.rolling_extreme(low_, period, take_max=False)
    with np.errstate(all="ignore"):
        scale = (highest - lowest) / 100.0
        return np.where(scale != 0.0, (c - lowest) / scale, np.where(np.isnan(scale), np.nan, 0.0))


@njit(cache=True)
def _supertrend(
    high: FloatArray, low: FloatArray, close: FloatArray, atr: FloatArray, factor: float
) -> FloatArray:
    n = close.size
    out = np.full(n, np.nan)
    upper_before = 0.0
    lower_before = 0.0
    line_before = 0.0
    for t in range(n):
        if np.isnan(atr[t]):
            continue
        middle = (high[t] + low[t]) / 2
        upper = middle + factor * atr[t]
        lower = middle - factor * atr[t]
        first = t == 0 or np.isnan(atr[t - 1])
        previous_upper = 0.0 if first else upper_before
        previous_lower = 0.0 if first else lower_before
        previous_close = close[t - 1] if t > 0 else np.nan
        if not (lower > previous_lower or previous_close < previous_lower):
            lower = previous_lower
        if not (upper < previous_upper or previous_close > previous_upper):
            upper = previous_upper
        # TradingView's direction: -1 up, +1 down.
        if first:
            direction = 1
        elif line_before == previous_upper:
            direction = -1 if close[t] > upper else 1
        else:
            direction = 1 if close[t] < lower else -1
        line_before = lower if direction == -1 else upper
        upper_before = upper
        lower_before = lower
        out[t] = -direction
    return out


def supertrend(
    high: FloatArray, low: FloatArray, close: FloatArray, period: int, factor: float
) -> FloatArray:
    """+1 in an uptrend, -1 in a downtrend: TradingView's `ta.supertrend(factor, period)`
    direction with the sign flipped, on the language's `atr(period)`; -1 at the first bar
    with an ATR, NaN before it."""
    h, low_, c = _contiguous(high, low, close)
    return _supertrend(h, low_, c, indicators.atr(h, low_, c, period), float(factor))


def _sma_from(values: FloatArray, start: int, window: int) -> FloatArray:
    out = np.full(values.size, np.nan)
    if start < values.size:
        out[start:] = indicators.sma(values[start:], window)
    return out


def stochastic(
    high: FloatArray, low: FloatArray, close: FloatArray, period: int, k_smooth: int, d_smooth: int
) -> tuple[FloatArray, FloatArray]:
    """(slow %K, slow %D): %K smoothed by an SMA of `k_smooth`, and that by an SMA of
    `d_smooth`; TA-Lib's `STOCH(period, k_smooth, SMA, d_smooth, SMA)` outputs, except that
    slow %K starts at its own first value (TA-Lib's STOCH starts both where %D starts)."""
    fast = fast_stochastic(high, low, close, period)
    slow_k = _sma_from(fast, period - 1, k_smooth)
    return slow_k, _sma_from(slow_k, period + k_smooth - 2, d_smooth)
