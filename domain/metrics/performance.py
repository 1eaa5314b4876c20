"""The metrics of one equity curve and its trades (docs/simulation.md); undefined ones are None."""

import math

import numpy as np
import numpy.typing as npt

from domain.compiled_cache import njit
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
# Written out so the compiled passes below sum in numpy's order, bit for bit.
_PAIRWISE_BLOCK = 128


# What a pass sums: the values, their squared deviations from the mean, their squared downside
# (or nothing).
_VALUE, _SQUARED_DEVIATION, _SQUARED_DOWNSIDE, _NOTHING = 0, 1, 2, 3


@njit(cache=True, error_model="numpy", inline="always")
def _term(kind: int, value: float, mean: float) -> float:
    """x; (x - mean)², as np.var squares it; or np.minimum(x, 0)², NaN kept."""
    if kind == _VALUE:
        return value
    if kind == _SQUARED_DEVIATION:
        deviation = value - mean
        return deviation * deviation
    low = value if value < 0.0 or value != value else 0.0
    return low * low


@njit(cache=True, error_model="numpy")
def _block_sum(values: FloatArray, first: int, count: int, mean: float, kind: int) -> float:
    """numpy's sum of `_term` of `kind` over one block, values[first:first + count] (count <=
    128)."""
    if count < 8:
        total = 0.0
        for i in range(first, first + count):
            total += _term(kind, values[i], mean)
        return total
    # 8 accumulators, started on the first 8 values.
    a0, a1 = _term(kind, values[first], mean), _term(kind, values[first + 1], mean)
    a2, a3 = _term(kind, values[first + 2], mean), _term(kind, values[first + 3], mean)
    a4, a5 = _term(kind, values[first + 4], mean), _term(kind, values[first + 5], mean)
    a6, a7 = _term(kind, values[first + 6], mean), _term(kind, values[first + 7], mean)
    end = first + count - count % 8
    for i in range(first + 8, end, 8):
        a0 += _term(kind, values[i], mean)
        a1 += _term(kind, values[i + 1], mean)
        a2 += _term(kind, values[i + 2], mean)
        a3 += _term(kind, values[i + 3], mean)
        a4 += _term(kind, values[i + 4], mean)
        a5 += _term(kind, values[i + 5], mean)
        a6 += _term(kind, values[i + 6], mean)
        a7 += _term(kind, values[i + 7], mean)
    total = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))
    for i in range(end, first + count):
        total += _term(kind, values[i], mean)
    return total


@njit(cache=True, error_model="numpy", inline="always")
def _left_half(count: int) -> int:
    half = count // 2
    return half - half % 8


@njit(cache=True, error_model="numpy")
def _pairwise_sums(
    values: FloatArray, mean: float, kind: int, other_kind: int
) -> tuple[float, float]:
    """numpy's sums of `_term` of `kind` and of `other_kind` (_NOTHING: none) over all the
    values, in one walk: `_block_sum` of each block (the second sum reads it from the cache),
    halves (cut at a multiple of 8) summed until they are blocks, left half + right half:
    numpy's recursion, walked with a stack of its own (numba cannot cache a recursive
    function)."""
    firsts = np.zeros(64, np.int64)  # per depth: the half being summed, and whether its
    counts = np.zeros(64, np.int64)  # left half is done (then its sums are kept)
    left_done = np.zeros(64, np.bool_)
    lefts = np.zeros(64)
    other_lefts = np.zeros(64)
    depth = 0
    counts[0] = values.size
    while True:
        while counts[depth] > _PAIRWISE_BLOCK:  # down the left halves to a block
            left_done[depth] = False
            firsts[depth + 1] = firsts[depth]
            counts[depth + 1] = _left_half(counts[depth])
            depth += 1
        total = _block_sum(values, firsts[depth], counts[depth], mean, kind)
        other = 0.0
        if other_kind != _NOTHING:
            other = _block_sum(values, firsts[depth], counts[depth], mean, other_kind)
        while depth > 0:  # up while right halves are done
            depth -= 1
            if not left_done[depth]:
                left_done[depth] = True
                lefts[depth] = total
                other_lefts[depth] = other
                half = _left_half(counts[depth])
                firsts[depth + 1] = firsts[depth] + half
                counts[depth + 1] = counts[depth] - half
                depth += 1
                break
            total = lefts[depth] + total
            other = other_lefts[depth] + other
        else:
            return total, other


@njit(cache=True, error_model="numpy")
def _return_sums(returns: FloatArray) -> tuple[float, float, float]:
    """The mean of the returns, the sum of their squared deviations from it and the mean of
    their squared downside, as np.mean, np.var and the mean of np.minimum(r, 0) ** 2 find
    them (the same bits), in two light compiled passes instead of numpy's five (the values
    and the downside in the first, the deviations from the mean in the second)."""
    count = returns.size
    total, downside = _pairwise_sums(returns, 0.0, _VALUE, _SQUARED_DOWNSIDE)
    mean = total / count
    deviations = _pairwise_sums(returns, mean, _SQUARED_DEVIATION, _NOTHING)[0]
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
