"""Indicators over float64 price arrays; NaN wherever a value is not yet defined (warm-up).

Each output has the input's length and at bar t uses only bars up to and including t.
"""

import numpy as np
import numpy.typing as npt
from numba import njit

FloatArray = npt.NDArray[np.float64]


@njit(cache=True)
def _compensated_add(total: float, compensation: float, x: float) -> tuple[float, float]:
    """Neumaier summation step: the rounding error of total + x goes into compensation."""
    t = total + x
    if abs(total) >= abs(x):
        compensation += (total - t) + x
    else:
        compensation += (x - t) + total
    return t, compensation


@njit(cache=True)
def _rolling_mean(values: FloatArray, window: int) -> FloatArray:
    # A compensated running sum: O(n) without the drift of a plain cumsum.
    out = np.full(values.size, np.nan)
    total = 0.0
    compensation = 0.0
    for i in range(values.size):
        total, compensation = _compensated_add(total, compensation, values[i])
        if i >= window:
            total, compensation = _compensated_add(total, compensation, -values[i - window])
        if i >= window - 1:
            out[i] = (total + compensation) / window
    return out


def sma(values: FloatArray, window: int) -> FloatArray:
    """Plain mean of the last `window` values."""
    return _rolling_mean(np.ascontiguousarray(values, np.float64), window)


@njit(cache=True)
def _seeded_smoothing(values: FloatArray, window: int, alpha: float) -> FloatArray:
    """out_t = alpha·x_t + (1 - alpha)·out_{t-1}, seeded with the mean of the first `window`
    values after any leading NaNs."""
    out = np.full(values.size, np.nan)
    first = 0
    while first < values.size and np.isnan(values[first]):
        first += 1
    seed_end = first + window - 1
    if seed_end >= values.size:
        return out
    out[seed_end] = values[first : seed_end + 1].mean()
    for i in range(seed_end + 1, values.size):
        out[i] = alpha * values[i] + (1.0 - alpha) * out[i - 1]
    return out


def ema(values: FloatArray, window: int) -> FloatArray:
    """Recursive mean with alpha 2/(n+1), seeded with the SMA of the first n valid values.

    Leading NaNs (e.g. a MACD line during its warm-up) are skipped, as TA-Lib does.
    """
    return _seeded_smoothing(np.ascontiguousarray(values, np.float64), window, 2.0 / (window + 1.0))


def rma(values: FloatArray, window: int) -> FloatArray:
    """Wilder's smoothing: alpha 1/n, seeded with the mean of the first n valid values."""
    return _seeded_smoothing(np.ascontiguousarray(values, np.float64), window, 1.0 / window)


@njit(cache=True)
def _rsi(close: FloatArray, period: int) -> FloatArray:
    out = np.full(close.size, np.nan)
    if close.size <= period:
        return out
    gain = 0.0
    loss = 0.0
    for i in range(1, close.size):
        change = close[i] - close[i - 1]
        up = change if change > 0 else 0.0
        down = -change if change < 0 else 0.0
        if i <= period:
            gain += up / period
            loss += down / period
            if i < period:
                continue
        else:
            gain = (gain * (period - 1) + up) / period
            loss = (loss * (period - 1) + down) / period
        # No movement at all in the window: neutral rather than undefined.
        out[i] = 50.0 if gain + loss == 0.0 else 100.0 * gain / (gain + loss)
    return out


def rsi(close: FloatArray, period: int) -> FloatArray:
    """Wilder's RSI: averages seeded with the mean of the first n changes, then alpha 1/n.

    First defined at bar `period`. 100·gain/(gain+loss) equals 100 - 100/(1+RS) and stays
    finite when there were no losses; with no change at all it is 50.
    """
    return _rsi(np.ascontiguousarray(close, np.float64), period)


@njit(cache=True)
def _rolling_population_std(values: FloatArray, means: FloatArray, window: int) -> FloatArray:
    out = np.full(values.size, np.nan)
    for i in range(window - 1, values.size):
        m = means[i]
        acc = 0.0
        for j in range(i - window + 1, i + 1):
            d = values[j] - m
            acc += d * d
        out[i] = np.sqrt(acc / window)
    return out


def rolling_population_std(values: FloatArray, means: FloatArray, window: int) -> FloatArray:
    """Standard deviation (ddof 0) of each trailing window around its given mean.

    Two passes per window, exact but O(n·window): running sums of squares lose digits on
    prices with a small spread.
    """
    return _rolling_population_std(np.ascontiguousarray(values, np.float64), means, window)


def bollinger(
    close: FloatArray, window: int, k: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(lower, middle, upper): SMA(n) -/+ k * population standard deviation (ddof 0)."""
    values = np.ascontiguousarray(close, np.float64)
    middle = sma(values, window)
    width = k * rolling_population_std(values, middle, window)
    return middle - width, middle, middle + width


def _rolling_extreme(values: FloatArray, window: int, take_max: bool) -> FloatArray:
    """Max (or min) of each trailing window, O(n) by van Herk/Gil-Werman blocks."""
    n = values.size
    out = np.full(n, np.nan)
    if window > n:
        return out
    blocks = -(-n // window)
    fill = -np.inf if take_max else np.inf
    padded = np.full(blocks * window, fill)
    padded[:n] = values
    grid = padded.reshape(blocks, window)
    accumulate = np.maximum.accumulate if take_max else np.minimum.accumulate
    combine = np.maximum if take_max else np.minimum
    # Prefix extremes within each block, and suffix extremes within each block.
    prefix = accumulate(grid, axis=1).ravel()
    suffix = accumulate(grid[:, ::-1], axis=1)[:, ::-1].ravel()
    ends = np.arange(window - 1, n)
    out[window - 1 :] = combine(suffix[ends - window + 1], prefix[ends])
    return out


def donchian(high: FloatArray, low: FloatArray, window: int) -> tuple[FloatArray, FloatArray]:
    """(highest high, lowest low) of the `window` bars before each bar, excluding it."""
    upper = np.full(high.size, np.nan)
    lower = np.full(low.size, np.nan)
    upper[1:] = _rolling_extreme(np.asarray(high, np.float64)[:-1], window, take_max=True)
    lower[1:] = _rolling_extreme(np.asarray(low, np.float64)[:-1], window, take_max=False)
    return upper, lower


def macd(close: FloatArray, fast: int, slow: int, signal: int) -> tuple[FloatArray, FloatArray]:
    """(MACD line, signal line): EMA(fast) - EMA(slow), and the EMA of that line.

    Each EMA is seeded on its own first valid values (unlike TA-Lib's MACD, which starts
    the fast EMA where the slow one starts).
    """
    line = ema(close, fast) - ema(close, slow)
    return line, ema(line, signal)


def true_range(high: FloatArray, low: FloatArray, close: FloatArray) -> FloatArray:
    """max(high - low, |high - previous close|, |low - previous close|); none at bar 0."""
    out = np.full(close.size, np.nan)
    previous = close[:-1]
    out[1:] = np.maximum(
        high[1:] - low[1:], np.maximum(np.abs(high[1:] - previous), np.abs(low[1:] - previous))
    )
    return out


def atr(high: FloatArray, low: FloatArray, close: FloatArray, window: int) -> FloatArray:
    """Wilder's average true range: rma of the true range, seeded with the mean of TR_1..TR_n."""
    return rma(true_range(high, low, close), window)


def rolling_extreme(values: FloatArray, window: int, take_max: bool) -> FloatArray:
    """Max (or min) of each trailing window of `window` values, the current one included."""
    return _rolling_extreme(np.ascontiguousarray(values, np.float64), window, take_max)
