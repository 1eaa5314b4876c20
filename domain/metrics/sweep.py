"""Metrics at optimization speed, and the walk-forward test windows chained into one curve.

`sweep_metrics` gives exactly what `compute_metrics` gives for the same kernel output, with
the per-bar returns and the drawdown in compiled passes instead of numpy's temporaries: at a
grid's scale (hundreds of sets over a year of minutes) those would cost more than the
simulation itself.
"""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from domain.optimization.walk_forward import chain_scales
from numba import njit

from domain.backtest import perp_metrics
from domain.execution.kernel import Kernel
from domain.market.intervals import add_intervals
from domain.metrics.performance import (
    Metric,
    bars_per_year,
    cagr,
    compute_metrics,
    finite_or_none,
    sharpe_ratio,
    sortino_ratio,
)
from domain.research.sharpe_inference import ReturnMoments, probabilistic_sharpe

FloatArray = npt.NDArray[np.float64]
TimeArray = npt.NDArray[np.int64]

_NO_EQUITY: FloatArray = np.empty(0)
_NO_TIMES: TimeArray = np.empty(0, np.int64)


@njit(cache=True, error_model="numpy")
def _per_bar_returns(equity: FloatArray, initial: float) -> FloatArray:
    # The same divisions as the core's per_bar_returns (so the same values), in one pass
    # that the compiler vectorizes, without the core's temporary array.
    returns = np.empty(equity.size)
    if equity.size:
        returns[0] = equity[0] / initial - 1.0
    for i in range(1, equity.size):
        returns[i] = equity[i] / equity[i - 1] - 1.0
    return returns


@njit(cache=True, error_model="numpy")
def _max_drawdown(equity: FloatArray) -> float:
    """max over t of 1 - equity_t / max(equity_0..t), as the core computes it.

    While the running peak is positive, the deepest fall below it is at the lowest equity
    before the next peak, so one division per peak replaces one per bar; the exact same
    quotient comes out, division being monotonic. A peak at or below zero (a blown-up
    account) takes the per-bar route.
    """
    drawdown = -np.inf
    peak = -np.inf
    trough = np.inf
    for i in range(equity.size):
        value = equity[i]
        if value > peak:
            if peak > 0.0:
                drawdown = max(drawdown, 1.0 - trough / peak)
            peak = value
            trough = value
        elif value < trough:
            trough = value
        if peak <= 0.0:
            fall = 1.0 - value / peak
            if fall != fall:
                return np.nan
            drawdown = max(drawdown, fall)
    if peak > 0.0:
        drawdown = max(drawdown, 1.0 - trough / peak)
    return drawdown


@njit(cache=True, error_model="numpy", fastmath={"reassoc"})
def block_sums(returns: FloatArray, blocks: int) -> tuple[FloatArray, FloatArray]:
    """Per block of len // blocks bars, the sum and the sum of squares (as BlockSums.of, to
    rounding: reassoc lets the compiler vectorize the sums)."""
    length = returns.size // blocks
    sums = np.zeros(blocks)
    squares = np.zeros(blocks)
    for b in range(blocks):
        total = square = 0.0
        for i in range(b * length, (b + 1) * length):
            value = returns[i]
            total += value
            square += value * value
        sums[b] = total
        squares[b] = square
    return sums, squares


@dataclass(frozen=True)
class SetSweep:
    """One set's metrics, and what the robustness figures need of its per-bar returns."""

    metrics: dict[str, Metric]
    moments: ReturnMoments | None
    block_sums: FloatArray  # (blocks,): sum of the returns per block
    block_squares: FloatArray  # (blocks,): sum of their squares


def sweep_metrics(
    kernel: Kernel,
    first_time: int,
    last_time: int,
    interval: str,
    initial_capital: float,
    trade_returns: FloatArray,
    blocks: int = 16,
) -> SetSweep:
    """Every metric of one simulation over bars opening from `first_time` to `last_time`
    (`trade_returns` its trades', services.engine.core.kernel_returns), with its returns'
    moments and block sums over `blocks` blocks."""
    closed = kernel.exit_bar >= 0
    # The trade statistics come from the core itself (cheap: they only read the trades).
    metrics = compute_metrics(
        _NO_EQUITY,
        _NO_TIMES,
        interval,
        initial_capital,
        closed_pnl=kernel.pnl[closed],
        closed_returns=trade_returns[closed],
        num_trades=int(kernel.side.size),
        fees_paid=float(kernel.fees.sum()),
        bars_held=kernel.bars_held,
        **perp_metrics(kernel),
    )
    bars = kernel.equity.size
    if not bars:
        return SetSweep(metrics, None, np.zeros(blocks), np.zeros(blocks))
    returns = _per_bar_returns(kernel.equity, initial_capital)
    moments = ReturnMoments.of(returns)
    sums, squares = block_sums(returns, blocks)
    drawdown = finite_or_none(_max_drawdown(kernel.equity))
    final = float(kernel.equity[-1])
    growth = cagr(final, initial_capital, add_intervals(last_time, interval, 1) - first_time)
    periods = bars_per_year(interval)
    metrics.update(
        final_equity=finite_or_none(final),
        total_return=finite_or_none(final / initial_capital - 1.0),
        cagr=growth,
        sharpe=sharpe_ratio(returns, periods),
        sortino=sortino_ratio(returns, periods),
        max_drawdown=drawdown,
        calmar=finite_or_none(growth / drawdown) if growth is not None and drawdown else None,
        exposure=kernel.bars_held / bars,
        psr=probabilistic_sharpe(moments),
    )
    return SetSweep(metrics, moments, sums, squares)


@dataclass(frozen=True)
class TestRun:
    """One walk-forward test window's simulation, as kept until the windows are chained."""

    times: TimeArray
    equity: FloatArray
    closed_pnl: list[float]
    closed_returns: list[float]
    num_trades: int
    fees_paid: float
    bars_held: int
    funding_paid: float = 0.0
    liquidations: int = 0


def chained_metrics(
    runs: list[TestRun], interval: str, initial_capital: float
) -> dict[str, Metric]:
    """Metrics of the test windows' returns chained into one equity curve.

    Each window starts again from the initial capital, so window k's equity, profits and fees
    are scaled by the growth of the windows before it.
    """
    finals = [float(run.equity[-1]) if run.equity.size else None for run in runs]
    equity, pnl, fees, funding = [], [], 0.0, 0.0
    for run, scale in zip(runs, chain_scales(finals, initial_capital), strict=True):
        equity.append(run.equity * scale)
        pnl.append(np.asarray(run.closed_pnl, np.float64) * scale)
        fees += run.fees_paid * scale
        funding += run.funding_paid * scale
    return compute_metrics(
        np.concatenate(equity) if equity else _NO_EQUITY,
        np.concatenate([run.times for run in runs]) if runs else _NO_TIMES,
        interval,
        initial_capital,
        closed_pnl=np.concatenate(pnl) if pnl else _NO_EQUITY,
        closed_returns=np.asarray([r for run in runs for r in run.closed_returns], np.float64),
        num_trades=sum(run.num_trades for run in runs),
        fees_paid=fees,
        bars_held=sum(run.bars_held for run in runs),
        funding_paid=funding,
        liquidations=sum(run.liquidations for run in runs),
    )
