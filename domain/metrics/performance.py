"""The metrics of one equity curve and its trades (docs/simulation.md); undefined ones are None."""

import math

import numpy as np
import numpy.typing as npt
from numba import njit

from domain.market.intervals import DAY_MS, add_intervals, interval_minutes
from domain.research.sharpe_inference import ReturnMoments, probabilistic_sharpe

Metric = float | int | None
FloatArray = npt.NDArray[np.float64]
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
# Written out so the compiled pass below sums in numpy's order, bit for bit.
_PAIRWISE_BLOCK = 128


@njit(cache=True, error_model="numpy", inline="always")
def _terms(value: float, mean: float) -> tuple[float, float, float]:
    """A value, its squared deviation from `mean` and its squared downside (np.minimum(x, 0)²,
    NaN kept)."""
    deviation = value - mean
    low = value if value < 0.0 or value != value else 0.0
    return value, deviation * deviation, low * low


@njit(cache=True, error_model="numpy")
def _block_sums(
    values: FloatArray, first: int, count: int, mean: float
) -> tuple[float, float, float]:
    """numpy's sums of one block, values[first:first + count] (count <= 128), of their
    squared deviations from `mean` ((x - mean)², as np.var squares them) and of their
    squared downside."""
    if count < 8:
        total = deviations = downside = 0.0
        for i in range(first, first + count):
            x, d, w = _terms(values[i], mean)
            total += x
            deviations += d
            downside += w
        return total, deviations, downside
    if count <= _PAIRWISE_BLOCK:
        # 8 accumulators of each sum, started on the first 8 values.
        x0, d0, w0 = _terms(values[first], mean)
        x1, d1, w1 = _terms(values[first + 1], mean)
        x2, d2, w2 = _terms(values[first + 2], mean)
        x3, d3, w3 = _terms(values[first + 3], mean)
        x4, d4, w4 = _terms(values[first + 4], mean)
        x5, d5, w5 = _terms(values[first + 5], mean)
        x6, d6, w6 = _terms(values[first + 6], mean)
        x7, d7, w7 = _terms(values[first + 7], mean)
        end = first + count - count % 8
        for i in range(first + 8, end, 8):
            x, d, w = _terms(values[i], mean)
            x0, d0, w0 = x0 + x, d0 + d, w0 + w
            x, d, w = _terms(values[i + 1], mean)
            x1, d1, w1 = x1 + x, d1 + d, w1 + w
            x, d, w = _terms(values[i + 2], mean)
            x2, d2, w2 = x2 + x, d2 + d, w2 + w
            x, d, w = _terms(values[i + 3], mean)
            x3, d3, w3 = x3 + x, d3 + d, w3 + w
            x, d, w = _terms(values[i + 4], mean)
            x4, d4, w4 = x4 + x, d4 + d, w4 + w
            x, d, w = _terms(values[i + 5], mean)
            x5, d5, w5 = x5 + x, d5 + d, w5 + w
            x, d, w = _terms(values[i + 6], mean)
            x6, d6, w6 = x6 + x, d6 + d, w6 + w
            x, d, w = _terms(values[i + 7], mean)
            x7, d7, w7 = x7 + x, d7 + d, w7 + w
        total = ((x0 + x1) + (x2 + x3)) + ((x4 + x5) + (x6 + x7))
        deviations = ((d0 + d1) + (d2 + d3)) + ((d4 + d5) + (d6 + d7))
        downside = ((w0 + w1) + (w2 + w3)) + ((w4 + w5) + (w6 + w7))
        for i in range(end, first + count):
            x, d, w = _terms(values[i], mean)
            total += x
            deviations += d
            downside += w
        return total, deviations, downside
    return 0.0, 0.0, 0.0  # unreachable: larger counts are split into blocks


@njit(cache=True, error_model="numpy", inline="always")
def _left_half(count: int) -> int:
    half = count // 2
    return half - half % 8


@njit(cache=True, error_model="numpy")
def _pairwise_sums(values: FloatArray, mean: float) -> tuple[float, float, float]:
    """`_block_sums` over all the values, halves (cut at a multiple of 8) summed until they
    are blocks, left half + right half: numpy's recursion, walked with a stack of its own
    (numba cannot cache a recursive function)."""
    firsts = np.zeros(64, np.int64)  # per depth: the half being summed, and whether its
    counts = np.zeros(64, np.int64)  # left half is done (then its sums are kept)
    left_done = np.zeros(64, np.bool_)
    lefts = np.zeros((64, 3))
    depth = 0
    counts[0] = values.size
    while True:
        while counts[depth] > _PAIRWISE_BLOCK:  # down the left halves to a block
            left_done[depth] = False
            firsts[depth + 1] = firsts[depth]
            counts[depth + 1] = _left_half(counts[depth])
            depth += 1
        x, d, w = _block_sums(values, firsts[depth], counts[depth], mean)
        while depth > 0:  # up while right halves are done
            depth -= 1
            if not left_done[depth]:
                left_done[depth] = True
                lefts[depth, 0], lefts[depth, 1], lefts[depth, 2] = x, d, w
                half = _left_half(counts[depth])
                firsts[depth + 1] = firsts[depth] + half
                counts[depth + 1] = counts[depth] - half
                depth += 1
                break
            x, d, w = lefts[depth, 0] + x, lefts[depth, 1] + d, lefts[depth, 2] + w
        else:
            return x, d, w


@njit(cache=True, error_model="numpy")
def _return_sums(returns: FloatArray) -> tuple[float, float, float]:
    """The mean of the returns, the sum of their squared deviations from it and the mean of
    their squared downside, as np.mean, np.var and the mean of np.minimum(r, 0) ** 2 find
    them (the same bits), in two compiled passes instead of numpy's five."""
    count = returns.size
    total, _, downside = _pairwise_sums(returns, 0.0)
    mean = total / count
    _, deviations, _ = _pairwise_sums(returns, mean)
    return mean, deviations, downside / count


def return_ratios(
    returns: FloatArray, periods_per_year: float
) -> tuple[float | None, float | None]:
    """(Sharpe, Sortino) of per-bar returns, annualized over `periods_per_year`: the mean
    over the standard deviation (ddof 1), and over the root mean square of the downside."""
    count = returns.size
    if count == 0:
        return None, None
    mean, deviations, downside_square = _return_sums(np.ascontiguousarray(returns, np.float64))
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


def max_drawdown(equity: FloatArray) -> float | None:
    """max over t of 1 - equity_t / max(equity_0..t), as a positive fraction."""
    return finite_or_none(_max_drawdown(equity)) if equity.size else None


@njit(cache=True, error_model="numpy")
def _max_drawdown(equity: FloatArray) -> float:
    """While the running peak is positive, the deepest fall below it is at the lowest equity
    before the next peak, so one division per peak replaces one per bar; the exact same
    quotient comes out, division being monotonic. A peak at or below zero (a blown-up
    account) takes the per-bar route."""
    drawdown = -np.inf
    peak = -np.inf
    trough = np.inf
    for i in range(equity.size):
        value = equity[i]
        if value != value:
            return np.nan
        if value > peak:
            if peak > 0.0:
                drawdown = max(drawdown, 1.0 - trough / peak)
            peak = value
            trough = value
        trough = min(trough, value)  # a select, not a branch: new lows are hard to predict
        if peak <= 0.0:
            fall = 1.0 - value / peak
            if fall != fall:
                return np.nan
            drawdown = max(drawdown, fall)
    if peak > 0.0:
        drawdown = max(drawdown, 1.0 - trough / peak)
    return drawdown


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
    returns: FloatArray | None = None,
    moments: ReturnMoments | None = None,
) -> dict[str, Metric]:
    """Every metric of docs/simulation.md's table, keyed as there: the one assembly that a
    backtest, an optimization's sets and the chained walk-forward windows all use. `returns`
    and `moments` may be given when the caller already has them."""
    if equity.size == 0 or span is None:
        final = initial_capital if equity.size == 0 else float(equity[-1])
        elapsed_ms = 0
    else:
        final = float(equity[-1])
        elapsed_ms = add_intervals(span[1], interval, 1) - span[0]
    if returns is None:
        returns = per_bar_returns(equity, initial_capital)
    if moments is None:
        moments = ReturnMoments.of(returns)
    periods = bars_per_year(interval)
    growth = cagr(final, initial_capital, elapsed_ms)
    drawdown = max_drawdown(equity)
    sharpe, sortino = return_ratios(returns, periods)
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
