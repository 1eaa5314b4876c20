"""The metrics of one equity curve and its trades (docs/simulation.md); undefined ones are None."""

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from domain.compiled_cache import njit
from domain.market.intervals import DAY_MS, add_intervals, interval_minutes
from domain.research.lane_order import add_eight, lane_mean_from, moment_step, new_lanes
from domain.research.sharpe_inference import ReturnMoments, probabilistic_sharpe

Metric = float | int | None
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
# The open times of a curve's first and last bars; None for a curve without bars.
Span = tuple[int, int] | None

YEAR_MS = 365 * DAY_MS


def bars_per_year(interval: str) -> float:
    """525600 / interval minutes (D: 365, W: 52.142857…, M: 12)."""
    return 525_600 / interval_minutes(interval)


def finite_or_none(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(value)


@njit(cache=True, error_model="numpy")
def per_bar_returns(equity: FloatArray, initial_capital: float) -> FloatArray:
    """r_t = equity_t / equity_{t-1} - 1, with equity_{-1} = initial capital (one compiled pass:
    at a grid's scale numpy's temporaries would cost more than the simulation)."""
    returns = np.empty(equity.size)
    if equity.size:
        returns[0] = equity[0] / initial_capital - 1.0
    for i in range(1, equity.size):
        returns[i] = equity[i] / equity[i - 1] - 1.0
    return returns


def span_of(open_time: npt.NDArray[np.int64]) -> Span:
    return (int(open_time[0]), int(open_time[-1])) if open_time.size else None


# numpy's pairwise summation (its `add.reduce` on a contiguous float64 array): blocks of at
# most 128 values summed in 8 interleaved accumulators, halves (cut at a multiple of 8) added.
# Written out so the compiled passes below sum in numpy's order, bit for bit.
_PAIRWISE_BLOCK = 128


# What a pass sums: the values, their squared deviations from the mean, their squared downside,
# or nothing (a pass with one sum: the compiler drops the other).
_VALUE, _SQUARED_DEVIATION, _SQUARED_DOWNSIDE, _NOTHING = 0, 1, 2, 3


@njit(cache=True, error_model="numpy", inline="always")
def _term(kind: int, value: float, mean: float) -> float:
    """x; (x - mean)², as np.var squares it; np.minimum(x, 0)², NaN kept; or 0."""
    if kind == _VALUE:
        return value
    if kind == _SQUARED_DEVIATION:
        deviation = value - mean
        return deviation * deviation
    if kind == _NOTHING:
        return 0.0
    low = 0.0 if value >= 0.0 else value  # one compare, a select
    return low * low


@njit(cache=True, error_model="numpy", inline="always")
def _block_sums(
    values: FloatArray, first: int, count: int, mean: float, kind: int, other: int
) -> tuple[float, float]:
    """numpy's sums of `_term` of `kind` and of `other` over one block, values[first:first +
    count] (count <= 128): 8 accumulators each, side by side in one loop."""
    if count < 8:
        total = other_total = 0.0
        for i in range(first, first + count):
            total += _term(kind, values[i], mean)
            other_total += _term(other, values[i], mean)
        return total, other_total
    # 8 accumulators of each, started on the first 8 values.
    v = values[first : first + 8]
    a0, a1, a2, a3 = (
        _term(kind, v[0], mean),
        _term(kind, v[1], mean),
        _term(kind, v[2], mean),
        _term(kind, v[3], mean),
    )
    a4, a5, a6, a7 = (
        _term(kind, v[4], mean),
        _term(kind, v[5], mean),
        _term(kind, v[6], mean),
        _term(kind, v[7], mean),
    )
    b0, b1, b2, b3 = (
        _term(other, v[0], mean),
        _term(other, v[1], mean),
        _term(other, v[2], mean),
        _term(other, v[3], mean),
    )
    b4, b5, b6, b7 = (
        _term(other, v[4], mean),
        _term(other, v[5], mean),
        _term(other, v[6], mean),
        _term(other, v[7], mean),
    )
    end = first + count - count % 8
    for i in range(first + 8, end, 8):
        v0, v1, v2, v3 = values[i], values[i + 1], values[i + 2], values[i + 3]
        v4, v5, v6, v7 = values[i + 4], values[i + 5], values[i + 6], values[i + 7]
        a0, b0 = a0 + _term(kind, v0, mean), b0 + _term(other, v0, mean)
        a1, b1 = a1 + _term(kind, v1, mean), b1 + _term(other, v1, mean)
        a2, b2 = a2 + _term(kind, v2, mean), b2 + _term(other, v2, mean)
        a3, b3 = a3 + _term(kind, v3, mean), b3 + _term(other, v3, mean)
        a4, b4 = a4 + _term(kind, v4, mean), b4 + _term(other, v4, mean)
        a5, b5 = a5 + _term(kind, v5, mean), b5 + _term(other, v5, mean)
        a6, b6 = a6 + _term(kind, v6, mean), b6 + _term(other, v6, mean)
        a7, b7 = a7 + _term(kind, v7, mean), b7 + _term(other, v7, mean)
    total = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))
    other_total = ((b0 + b1) + (b2 + b3)) + ((b4 + b5) + (b6 + b7))
    for i in range(end, first + count):
        total += _term(kind, values[i], mean)
        other_total += _term(other, values[i], mean)
    return total, other_total


@njit(cache=True, error_model="numpy", inline="always")
def _left_half(count: int) -> int:
    half = count // 2
    return half - half % 8


@njit(cache=True, error_model="numpy")
def _pairwise_plan(count: int) -> tuple[IntArray, IntArray, IntArray]:
    """numpy's order for summing `count` values: its blocks in order (first value, count), and
    how their sums are added, as a postfix program of block numbers (its sum) and -1 (the last
    two added, left + right). numpy's recursion (halves cut at a multiple of 8 until they are
    blocks), walked with a stack of its own (numba cannot cache a recursive function)."""
    blocks = count // (_PAIRWISE_BLOCK // 2) + 1  # a block past the first has over 64 values
    block_first = np.empty(blocks, np.int64)
    block_count = np.empty(blocks, np.int64)
    program = np.empty(2 * blocks, np.int64)
    firsts = np.zeros(64, np.int64)  # per depth: the half being summed, and whether its
    counts = np.zeros(64, np.int64)  # left half is done
    left_done = np.zeros(64, np.bool_)
    depth = block = steps = 0
    counts[0] = count
    while True:
        while counts[depth] > _PAIRWISE_BLOCK:  # down the left halves to a block
            left_done[depth] = False
            firsts[depth + 1] = firsts[depth]
            counts[depth + 1] = _left_half(counts[depth])
            depth += 1
        block_first[block] = firsts[depth]
        block_count[block] = counts[depth]
        program[steps] = block
        block += 1
        steps += 1
        while depth > 0:  # up while right halves are done
            depth -= 1
            if not left_done[depth]:
                left_done[depth] = True
                half = _left_half(counts[depth])
                firsts[depth + 1] = firsts[depth] + half
                counts[depth + 1] = counts[depth] - half
                depth += 1
                break
            program[steps] = -1
            steps += 1
        else:
            return block_first[:block], block_count[:block], program[:steps]


@njit(cache=True, error_model="numpy")
def _pairwise_total(program: IntArray, block_sums: FloatArray) -> float:
    """The blocks' sums added as `_pairwise_plan`'s program says."""
    stack = np.empty(64)
    top = 0
    for step in program:
        if step >= 0:
            stack[top] = block_sums[step]
            top += 1
        else:
            top -= 1
            stack[top - 1] = stack[top - 1] + stack[top]
    total: float = stack[0]
    return total


@njit(cache=True, error_model="numpy")
def _pairwise_sums(
    values: FloatArray,
    mean: float,
    kind: int,
    other: int,
    plan: tuple[IntArray, IntArray, IntArray],
) -> tuple[float, float]:
    """numpy's sums of `_term` of `kind` and of `other` over all the values, `plan` their
    `_pairwise_plan`."""
    block_first, block_count, program = plan
    sums = np.empty((2, block_first.size))
    for block in range(block_first.size):
        first, count = block_first[block], block_count[block]
        sums[0, block], sums[1, block] = _block_sums(values, first, count, mean, kind, other)
    return _pairwise_total(program, sums[0]), _pairwise_total(program, sums[1])


@njit(cache=True, error_model="numpy", inline="always")
def _eight_moment_steps(
    v0: float,
    v1: float,
    v2: float,
    v3: float,
    v4: float,
    v5: float,
    v6: float,
    v7: float,
    mean: float,
    m2: float,
    m3: float,
    m4: float,
) -> tuple[float, float, float]:
    m2, m3, m4 = moment_step(v0, mean, m2, m3, m4)
    m2, m3, m4 = moment_step(v1, mean, m2, m3, m4)
    m2, m3, m4 = moment_step(v2, mean, m2, m3, m4)
    m2, m3, m4 = moment_step(v3, mean, m2, m3, m4)
    m2, m3, m4 = moment_step(v4, mean, m2, m3, m4)
    m2, m3, m4 = moment_step(v5, mean, m2, m3, m4)
    m2, m3, m4 = moment_step(v6, mean, m2, m3, m4)
    return moment_step(v7, mean, m2, m3, m4)


@njit(cache=True, error_model="numpy", inline="always")
def _deviation_block(
    values: FloatArray,
    first: int,
    count: int,
    mean: float,
    moments_mean: float,
    moments: tuple[float, float, float],
) -> tuple[float, tuple[float, float, float]]:
    """numpy's sum of the squared deviations from `mean` over values[first:first + count] (as
    `_block_sums` finds it), and the moments' sums (`moment_step` around `moments_mean`)
    carried over the same values in order: their one-by-one chain hides behind the block's
    8 accumulators instead of taking a pass of its own."""
    m2, m3, m4 = moments
    if count < 8:
        total = 0.0
        for i in range(first, first + count):
            total += _term(_SQUARED_DEVIATION, values[i], mean)
            m2, m3, m4 = moment_step(values[i], moments_mean, m2, m3, m4)
        return total, (m2, m3, m4)
    v = values[first : first + 8]
    v0, v1, v2, v3, v4, v5, v6, v7 = v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]
    a0, a1 = _term(_SQUARED_DEVIATION, v0, mean), _term(_SQUARED_DEVIATION, v1, mean)
    a2, a3 = _term(_SQUARED_DEVIATION, v2, mean), _term(_SQUARED_DEVIATION, v3, mean)
    a4, a5 = _term(_SQUARED_DEVIATION, v4, mean), _term(_SQUARED_DEVIATION, v5, mean)
    a6, a7 = _term(_SQUARED_DEVIATION, v6, mean), _term(_SQUARED_DEVIATION, v7, mean)
    m2, m3, m4 = _eight_moment_steps(v0, v1, v2, v3, v4, v5, v6, v7, moments_mean, m2, m3, m4)
    end = first + count - count % 8
    for i in range(first + 8, end, 8):
        v0, v1, v2, v3 = values[i], values[i + 1], values[i + 2], values[i + 3]
        v4, v5, v6, v7 = values[i + 4], values[i + 5], values[i + 6], values[i + 7]
        a0 += _term(_SQUARED_DEVIATION, v0, mean)
        a1 += _term(_SQUARED_DEVIATION, v1, mean)
        a2 += _term(_SQUARED_DEVIATION, v2, mean)
        a3 += _term(_SQUARED_DEVIATION, v3, mean)
        a4 += _term(_SQUARED_DEVIATION, v4, mean)
        a5 += _term(_SQUARED_DEVIATION, v5, mean)
        a6 += _term(_SQUARED_DEVIATION, v6, mean)
        a7 += _term(_SQUARED_DEVIATION, v7, mean)
        m2, m3, m4 = _eight_moment_steps(v0, v1, v2, v3, v4, v5, v6, v7, moments_mean, m2, m3, m4)
    total = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))
    for i in range(end, first + count):
        total += _term(_SQUARED_DEVIATION, values[i], mean)
        m2, m3, m4 = moment_step(values[i], moments_mean, m2, m3, m4)
    return total, (m2, m3, m4)


@njit(cache=True, error_model="numpy")
def _return_sums(returns: FloatArray) -> tuple[float, float, float]:
    """The mean of the returns, the sum of their squared deviations from it and the mean of
    their squared downside, as np.mean, np.var and the mean of np.minimum(r, 0) ** 2 find
    them (the same bits)."""
    count = returns.size
    plan = _pairwise_plan(count)
    total, downside = _pairwise_sums(returns, 0.0, _VALUE, _SQUARED_DOWNSIDE, plan)
    mean = total / count
    deviations = _pairwise_sums(returns, mean, _SQUARED_DEVIATION, _NOTHING, plan)[0]
    return mean, deviations, downside / count


def return_ratios(
    returns: FloatArray, periods_per_year: float
) -> tuple[float | None, float | None]:
    """(Sharpe, Sortino) of per-bar returns, annualized over `periods_per_year`: the mean
    over the standard deviation (ddof 1), and over the root mean square of the downside."""
    if returns.size == 0:
        return None, None
    sums = _return_sums(np.ascontiguousarray(returns, np.float64))
    return _ratios(returns.size, *sums, periods_per_year)


def _ratios(
    count: int, mean: float, deviations: float, downside_square: float, periods_per_year: float
) -> tuple[float | None, float | None]:
    """`return_ratios` from `_return_sums` of `count` returns (at least one)."""
    annualize = math.sqrt(periods_per_year)
    sharpe = None
    if count >= 2:
        deviation = math.sqrt(deviations / (count - 1))
        if deviation != 0.0 and math.isfinite(deviation):
            sharpe = finite_or_none(mean / deviation * annualize)
    sortino = None
    downside = math.sqrt(downside_square)
    if downside != 0.0 and math.isfinite(downside):
        sortino = finite_or_none(mean / downside * annualize)
    return sharpe, sortino


@njit(cache=True, error_model="numpy", inline="always")
def _drawdown_walk(
    equity: FloatArray, first: int, stop: int, drawdown: float, peak: float, trough: float
) -> tuple[float, float, float, bool]:
    """The maximum drawdown walked on over equity[first:stop] from its state: the deepest fall
    so far, the running peak and the lowest equity since it; True once a NaN made it NaN.
    While the peak is positive, the deepest fall below it is at the lowest equity before the
    next peak, so one division per peak replaces one per bar; the exact same quotient comes
    out, division being monotonic. A peak at or below zero (a blown-up account) takes the
    per-bar route."""
    for i in range(first, stop):
        value = equity[i]
        if value != value:
            return drawdown, peak, trough, True
        if value > peak:
            if peak > 0.0:
                drawdown = max(drawdown, 1.0 - trough / peak)
            peak = value
            trough = value
        trough = min(trough, value)  # a select, not a branch: new lows are hard to predict
        if peak <= 0.0:
            fall = 1.0 - value / peak
            if fall != fall:
                return drawdown, peak, trough, True
            drawdown = max(drawdown, fall)
    return drawdown, peak, trough, False


@njit(cache=True, error_model="numpy", inline="always")
def _lower(value: float, low: float) -> float:
    return value if value < low else low


@njit(cache=True, error_model="numpy", inline="always")
def _higher(value: float, high: float) -> float:
    return value if value > high else high


@njit(cache=True, error_model="numpy", inline="always")
def _block_extremes(values: FloatArray, first: int, stop: int) -> tuple[float, float]:
    """The lowest and the highest of values[first:stop] in four independent chains (a chain
    of selects waits on each comparison; exact in any order), meaningless if one is NaN."""
    low0 = low1 = low2 = low3 = np.inf
    high0 = high1 = high2 = high3 = -np.inf
    end = stop - (stop - first) % 4
    for i in range(first, end, 4):
        low0, high0 = _lower(values[i], low0), _higher(values[i], high0)
        low1, high1 = _lower(values[i + 1], low1), _higher(values[i + 1], high1)
        low2, high2 = _lower(values[i + 2], low2), _higher(values[i + 2], high2)
        low3, high3 = _lower(values[i + 3], low3), _higher(values[i + 3], high3)
    for i in range(end, stop):
        low0, high0 = _lower(values[i], low0), _higher(values[i], high0)
    low = _lower(_lower(low0, low1), _lower(low2, low3))
    return low, _higher(_higher(high0, high1), _higher(high2, high3))


@njit(cache=True, error_model="numpy")
def _curve_sums(
    equity: FloatArray, initial_capital: float
) -> tuple[FloatArray, float, float, float, float, tuple[float, float, float, float]]:
    """`CurveSums` of the curve: its returns, then block by block in numpy's summation
    order their sums and the drawdown walked on, then their deviations from the mean with the
    central moments' sums."""
    count = equity.size
    returns = np.empty(count)
    plan = _pairwise_plan(count)
    block_first, block_count, program = plan
    sums = np.empty((2, block_first.size))  # of the returns, and of their squared downside
    drawdown, peak, trough, broken = -np.inf, -np.inf, np.inf, False
    if count > 0:
        returns[0] = equity[0] / initial_capital - 1.0
    for i in range(1, count):
        returns[i] = equity[i] / equity[i - 1] - 1.0
    # The moments' mean in its lanes, from the same reads (blocks start at multiples of 8).
    mean_lanes = new_lanes()
    wide_stop = count - count % 32
    for block in range(block_first.size):
        first = block_first[block]
        stop = first + block_count[block]
        sums[0, block], sums[1, block] = _block_sums(
            returns, first, stop - first, 0.0, _VALUE, _SQUARED_DOWNSIDE
        )
        for i in range(first, min(stop, wide_stop), 8):
            add_eight(mean_lanes[0], returns[i : i + 8], i)
        if broken:
            continue
        # A block below a positive peak, without a NaN (its returns' sum would be one), only
        # lowers the trough.
        low, high = _block_extremes(equity, first, stop)
        if peak > 0.0 and not high > peak and sums[0, block] == sums[0, block]:
            trough = min(trough, low)
        else:
            drawdown, peak, trough, broken = _drawdown_walk(
                equity, first, stop, drawdown, peak, trough
            )
    if broken:
        drawdown = np.nan
    elif peak > 0.0:
        drawdown = max(drawdown, 1.0 - trough / peak)
    mean = _pairwise_total(program, sums[0]) / count
    moments_mean = lane_mean_from(returns, mean_lanes)
    moments = (0.0, 0.0, 0.0)
    for block in range(block_first.size):  # the deviations, in numpy's blocks
        first = block_first[block]
        sums[0, block], moments = _deviation_block(
            returns, first, block_count[block], mean, moments_mean, moments
        )
    deviations = _pairwise_total(program, sums[0])
    m2, m3, m4 = moments
    central = (moments_mean, m2 / count, m3 / count, m4 / count)
    return returns, drawdown, mean, deviations, _pairwise_total(program, sums[1]) / count, central


@dataclass(frozen=True)
class CurveSums:
    """What the metrics need of an equity curve and its per-bar returns."""

    returns: FloatArray  # per_bar_returns
    max_drawdown: float  # max over t of 1 - equity_t / max(equity_0..t); NaN after a NaN
    mean: float  # of the returns, as np.mean
    deviations: float  # the sum of their squared deviations from the mean, as np.var's
    downside_square: float  # the mean of their squared downside, np.minimum(r, 0) ** 2
    central: tuple[float, float, float, float]  # lane_order.central_moments of the returns

    @property
    def moments(self) -> ReturnMoments | None:
        """The returns' `ReturnMoments.of`, from the sums made beside the others."""
        return ReturnMoments.from_central(self.returns.size, *self.central)


def curve_sums(equity: FloatArray, initial_capital: float) -> CurveSums:
    """The returns, drawdown and return sums of `equity` (one compiled pass and a light
    second: at a grid's scale numpy's passes and temporaries cost more than the kernel)."""
    return CurveSums(*_curve_sums(np.ascontiguousarray(equity, np.float64), initial_capital))


def cagr(final: float, initial: float, elapsed_ms: int) -> float | None:
    if elapsed_ms <= 0:
        return None
    if final <= 0.0:
        return -1.0  # everything lost; a fractional power of a negative ratio is undefined
    try:
        return finite_or_none((final / initial) ** (YEAR_MS / elapsed_ms) - 1.0)
    except OverflowError:
        return None


def buy_and_hold_return(first_open: float, last_close: float) -> float | None:
    """`benchmark_return`: bought at the first bar's open, marked at the last bar's close."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return finite_or_none(float(np.float64(last_close) / np.float64(first_open) - 1.0))


def side_metrics(
    closed_pnl: FloatArray,
    closed_sides: npt.NDArray[np.int8] | None,
    closed_bars_held: npt.NDArray[np.int64] | None,
) -> dict[str, Metric]:
    """The closed trades by side, and how long they were held on average; None without the
    trades' sides or holding times."""
    if closed_sides is None or closed_bars_held is None:
        keys = ("avg_bars_held", "long_trades", "short_trades", "long_pnl", "short_pnl")
        return dict.fromkeys(keys)
    longs = closed_sides > 0
    return {
        "avg_bars_held": float(np.mean(closed_bars_held)) if closed_bars_held.size else None,
        "long_trades": int(np.count_nonzero(longs)),
        "short_trades": int(np.count_nonzero(~longs)),
        "long_pnl": finite_or_none(float(closed_pnl[longs].sum())),
        "short_pnl": finite_or_none(float(closed_pnl[~longs].sum())),
    }


def compute_metrics(
    equity: FloatArray,
    span: Span,
    interval: str,
    initial_capital: float,
    closed_pnl: FloatArray,
    closed_returns: FloatArray,
    num_trades: int,
    fees_paid: float,
    bars_held: int,
    funding_paid: float = 0.0,
    liquidations: int = 0,
    unfilled_orders: int = 0,
    closed_sides: npt.NDArray[np.int8] | None = None,
    closed_bars_held: npt.NDArray[np.int64] | None = None,
    benchmark_return: float | None = None,
    curve: CurveSums | None = None,
    moments: ReturnMoments | None = None,
) -> dict[str, Metric]:
    """Every metric of docs/simulation.md's table, keyed as there: the one assembly that a
    backtest, an optimization's sets and the chained walk-forward windows all use. `curve`
    (`curve_sums` of `equity`) and `moments` may be given when the caller already has them."""
    if equity.size == 0 or span is None:
        final = initial_capital if equity.size == 0 else float(equity[-1])
        elapsed_ms = 0
    else:
        final = float(equity[-1])
        elapsed_ms = add_intervals(span[1], interval, 1) - span[0]
    if curve is None:
        curve = curve_sums(equity, initial_capital)
    if moments is None:
        moments = curve.moments
    growth = cagr(final, initial_capital, elapsed_ms)
    drawdown = finite_or_none(curve.max_drawdown) if equity.size else None
    sharpe, sortino = None, None
    if equity.size:
        sums = (curve.mean, curve.deviations, curve.downside_square)
        sharpe, sortino = _ratios(equity.size, *sums, bars_per_year(interval))
    gains = float(closed_pnl[closed_pnl > 0].sum())
    losses = -float(closed_pnl[closed_pnl < 0].sum())
    closed = closed_pnl.size
    return {
        "final_equity": finite_or_none(final),
        "total_return": finite_or_none(final / initial_capital - 1.0),
        "cagr": growth,
        "sharpe": sharpe,
        "sortino": sortino,
        "max_drawdown": drawdown,
        "calmar": finite_or_none(growth / drawdown) if growth is not None and drawdown else None,
        "num_trades": num_trades,
        "win_rate": float(np.count_nonzero(closed_pnl > 0) / closed) if closed else None,
        "profit_factor": finite_or_none(gains / losses) if losses > 0 else None,
        "avg_trade_return": finite_or_none(float(np.mean(closed_returns))) if closed else None,
        "exposure": bars_held / equity.size if equity.size else None,
        "fees_paid": finite_or_none(fees_paid),
        "funding_paid": finite_or_none(funding_paid),
        "liquidations": liquidations,
        "unfilled_orders": unfilled_orders,
        "psr": probabilistic_sharpe(moments),
        **side_metrics(closed_pnl, closed_sides, closed_bars_held),
        "benchmark_return": benchmark_return,
    }
