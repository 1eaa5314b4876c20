"""Indicators over float64 price arrays; NaN wherever a value is not yet defined (warm-up).

Each output has the input's length and at bar t uses only bars up to and including t.
"""

import numpy as np
import numpy.typing as npt

from domain.compiled_cache import njit

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
def _rolling_total(values: FloatArray, window: int, divisor: float) -> FloatArray:
    # A compensated running sum: O(n) without the drift of a plain cumsum. Filling the window
    # and sliding it are two loops, so the sliding one has no branch on the bar's index.
    n = values.size
    out = np.empty(n)
    out[: window - 1] = np.nan
    total = 0.0
    compensation = 0.0
    for i in range(min(window, n)):
        total, compensation = _compensated_add(total, compensation, values[i])
    if window <= n:
        out[window - 1] = (total + compensation) / divisor
    for i in range(window, n):
        total, compensation = _compensated_add(total, compensation, values[i])
        total, compensation = _compensated_add(total, compensation, -values[i - window])
        out[i] = (total + compensation) / divisor
    return out


@njit(cache=True, inline="always")
def side(a: float, b: float) -> int:
    """1 where a > b, -1 where below, 0 where equal or either is NaN (undefined)."""
    return 1 if a > b else (-1 if a < b else 0)


@njit(cache=True)
def _rolling_means_pair(
    values: FloatArray, window_a: int, window_b: int, compared: bool
) -> tuple[FloatArray, npt.NDArray[np.int8]]:
    """`_rolling_total`'s means over two windows in one pass, each total summed in the same
    order (the same bits): a total's additions depend on each other, two totals' do not, so
    the two chains run side by side in about the time of one. `compared`: the means are not
    kept, each bar gets their `side` instead (writing them and reading them back would cost
    more than the sums)."""
    n = values.size
    # One allocation: two of 4 MB each were handed back by glibc and faulted in every run.
    means = np.empty((2, 0 if compared else n))
    sides = np.zeros(n if compared else 0, np.int8)
    mean_a = means[0]
    mean_b = means[1]
    if not compared:
        mean_a[: window_a - 1] = np.nan
        mean_b[: window_b - 1] = np.nan
    total_a = compensation_a = total_b = compensation_b = 0.0
    for i in range(n):
        value = values[i]
        total_a, compensation_a = _compensated_add(total_a, compensation_a, value)
        total_b, compensation_b = _compensated_add(total_b, compensation_b, value)
        if i >= window_a:
            total_a, compensation_a = _compensated_add(
                total_a, compensation_a, -values[i - window_a]
            )
        if i >= window_b:
            total_b, compensation_b = _compensated_add(
                total_b, compensation_b, -values[i - window_b]
            )
        if compared:
            if i >= window_a - 1 and i >= window_b - 1:  # before, a mean is NaN: 0
                mean = (total_a + compensation_a) / window_a
                sides[i] = side(mean, (total_b + compensation_b) / window_b)
            continue
        if i >= window_a - 1:
            mean_a[i] = (total_a + compensation_a) / window_a
        if i >= window_b - 1:
            mean_b[i] = (total_b + compensation_b) / window_b
    return means, sides


def sma(values: FloatArray, window: int) -> FloatArray:
    """Plain mean of the last `window` values."""
    return _rolling_total(np.ascontiguousarray(values, np.float64), window, float(window))


def sma_pair(values: FloatArray, window_a: int, window_b: int) -> tuple[FloatArray, FloatArray]:
    """(sma(values, window_a), sma(values, window_b)), the same bits, in one pass."""
    means = _rolling_means_pair(np.ascontiguousarray(values, np.float64), window_a, window_b, False)
    return means[0][0], means[0][1]


def sma_pair_sides(values: FloatArray, window_a: int, window_b: int) -> npt.NDArray[np.int8]:
    """`side` of sma(values, window_a) and sma(values, window_b) per bar, the same bits as
    compared from `sma_pair`, in one pass without the means."""
    values = np.ascontiguousarray(values, np.float64)
    return _rolling_means_pair(values, window_a, window_b, True)[1]


def rolling_sum(values: FloatArray, window: int) -> FloatArray:
    """Sum of the last `window` values (compensated, so it does not drift)."""
    return _rolling_total(np.ascontiguousarray(values, np.float64), window, 1.0)


@njit(cache=True)
def _seeded_smoothing(values: FloatArray, window: int, alpha: float, step_form: bool) -> FloatArray:
    """out_t = alpha·x_t + (1 - alpha)·out_{t-1}, seeded with the mean of the first `window`
    values after any leading NaNs. `step_form` computes it as TA-Lib's EMA does,
    out_{t-1} + (x_t - out_{t-1})·alpha, after a seed summed in order."""
    out = np.full(values.size, np.nan)
    first = 0
    while first < values.size and np.isnan(values[first]):
        first += 1
    seed_end = first + window - 1
    if seed_end >= values.size:
        return out
    if step_form:
        total = 0.0
        for i in range(first, seed_end + 1):
            total += values[i]
        out[seed_end] = total / window
        for i in range(seed_end + 1, values.size):
            out[i] = (values[i] - out[i - 1]) * alpha + out[i - 1]
        return out
    out[seed_end] = values[first : seed_end + 1].mean()
    for i in range(seed_end + 1, values.size):
        out[i] = alpha * values[i] + (1.0 - alpha) * out[i - 1]
    return out


def ema(values: FloatArray, window: int) -> FloatArray:
    """Recursive mean with alpha 2/(n+1), seeded with the SMA of the first n valid values.

    Leading NaNs (e.g. a MACD line during its warm-up) are skipped, and the recursion is
    TA-Lib's `EMA` step (so a MACD line near zero equals TA-Lib's to rounding).
    """
    return _seeded_smoothing(
        np.ascontiguousarray(values, np.float64), window, 2.0 / (window + 1.0), True
    )


def rma(values: FloatArray, window: int) -> FloatArray:
    """Wilder's smoothing: alpha 1/n, seeded with the mean of the first n valid values."""
    return _seeded_smoothing(np.ascontiguousarray(values, np.float64), window, 1.0 / window, False)


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


def ema_starting(values: FloatArray, window: int, start: int) -> FloatArray:
    """The EMA of `values` whose first value is at `start` valid values in (start >= window):
    seeded with the mean of the `window` valid values ending there."""
    x = np.array(values, np.float64)
    first = int(np.argmax(~np.isnan(x))) if (~np.isnan(x)).any() else x.size
    x[first : first + start - window] = np.nan
    return ema(x, window)


def macd_line(close: FloatArray, fast: int, slow: int) -> FloatArray:
    """EMA(fast) - EMA(slow), seeded as TA-Lib seeds them: the shorter EMA starts where the
    longer does (seeded with the mean of the values ending there), so the line starts at the
    longer window's first value, equal to TA-Lib's `MACD` macd output."""
    start = max(fast, slow)
    return ema_starting(close, fast, start) - ema_starting(close, slow, start)


def macd(close: FloatArray, fast: int, slow: int, signal: int) -> tuple[FloatArray, FloatArray]:
    """(MACD line, signal line): `macd_line`, and the EMA of that line (TA-Lib's seeding)."""
    line = macd_line(close, fast, slow)
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


@njit(cache=True)
def _wma(values: FloatArray, window: int) -> FloatArray:
    # TA-Lib's WMA loop: a running weighted sum and a running plain sum.
    n = values.size
    out = np.full(n, np.nan)
    if window > n:
        return out
    divider = float(window * (window + 1) // 2)
    period_sub = 0.0
    period_sum = 0.0
    for i in range(window - 1):
        period_sub += values[i]
        period_sum += values[i] * (i + 1)
    trailing = 0.0
    for i in range(window - 1, n):
        x = values[i]
        period_sub += x
        period_sub -= trailing
        period_sum += x * window
        trailing = values[i - window + 1]
        out[i] = period_sum / divider
        period_sum -= period_sub
    return out


def wma(values: FloatArray, window: int) -> FloatArray:
    """Linearly weighted mean of the last `window` values (weights 1..n, newest heaviest),
    computed as TA-Lib's `WMA`."""
    return _wma(np.ascontiguousarray(values, np.float64), window)


@njit(cache=True)
def _percent_rank(values: FloatArray, window: int) -> FloatArray:
    out = np.full(values.size, np.nan)
    for t in range(window, values.size):
        below = 0
        for j in range(t - window, t):
            if values[j] < values[t]:
                below += 1
        out[t] = below / window
    return out


def percent_rank(values: FloatArray, window: int) -> FloatArray:
    """The share of the `window` values before each one that are strictly below it."""
    return _percent_rank(np.ascontiguousarray(values, np.float64), window)
