"""Metrics at optimization speed, and the walk-forward test windows chained into one curve.

`sweep_metrics` is `compute_metrics` on one set's kernel output, with what the robustness
figures need of its per-bar returns (their moments and block sums) computed once beside.
"""

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from domain.backtest import perp_metrics
from domain.execution.kernel import Kernel
from domain.metrics.performance import (
    Metric,
    compute_metrics,
    curve_sums,
    finite_or_none,
    span_of,
)
from domain.optimization.walk_forward import chain_scales
from domain.research.lane_order import block_sums
from domain.research.sharpe_inference import ReturnMoments

FloatArray = npt.NDArray[np.float64]
TimeArray = npt.NDArray[np.int64]

_NO_EQUITY: FloatArray = np.empty(0)
_NO_TIMES: TimeArray = np.empty(0, np.int64)


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
    *,
    trade_bars_held: npt.NDArray[np.int64],
    benchmark_return: float | None,
) -> SetSweep:
    """Every metric of one simulation over bars opening from `first_time` to `last_time`
    (`trade_returns` and `trade_bars_held` its trades', services.engine.core.kernel_returns
    and bars_held; `benchmark_return` its bars' buy and hold), with its returns' moments and
    block sums over `blocks` blocks."""
    closed = kernel.exit_bar >= 0
    curve = curve_sums(kernel.equity, initial_capital)
    moments = curve.moments
    metrics = compute_metrics(
        kernel.equity,
        (first_time, last_time),
        interval,
        initial_capital,
        closed_pnl=kernel.pnl[closed],
        closed_returns=trade_returns[closed],
        num_trades=int(kernel.side.size),
        fees_paid=float(kernel.fees.sum()),
        bars_held=kernel.bars_held,
        **perp_metrics(kernel),
        closed_sides=kernel.side[closed],
        closed_bars_held=trade_bars_held[closed],
        benchmark_return=benchmark_return,
        curve=curve,
        moments=moments,
    )
    if not kernel.equity.size:
        return SetSweep(metrics, None, np.zeros(blocks), np.zeros(blocks))
    sums, squares = block_sums(curve.returns, blocks)
    return SetSweep(metrics, moments, sums, squares)


@dataclass(frozen=True)
class TestRun:
    """One walk-forward test window's simulation, as kept until the windows are chained:
    its curve, its closed trades' pnl and returns, the bars that ended holding a position,
    and its own metrics."""

    times: TimeArray
    equity: FloatArray
    closed_pnl: list[float]
    closed_returns: list[float]
    bars_held: int
    metrics: Mapping[str, Metric]


# Counts and sums over trades: the chained curve's are the windows' totals.
_WINDOW_TOTALS = (
    "num_trades",
    "fees_paid",
    "funding_paid",
    "liquidations",
    "unfilled_orders",
    "long_trades",
    "short_trades",
    "long_pnl",
    "short_pnl",
)


def _total(runs: list[TestRun], key: str) -> Metric:
    """The windows' sum of a count or sum (a window without it, stored before it existed,
    leaves it undefined)."""
    values = [run.metrics.get(key) for run in runs]
    if any(v is None for v in values):
        return None
    return sum(v for v in values if v is not None)


def _avg_bars_held(runs: list[TestRun]) -> Metric:
    """The mean over every window's closed trades."""
    held = closed = 0.0
    for run in runs:
        longs, shorts = run.metrics.get("long_trades"), run.metrics.get("short_trades")
        if longs is None or shorts is None:
            return None
        average = run.metrics.get("avg_bars_held")
        closed += longs + shorts
        held += (average or 0.0) * (longs + shorts)
    return held / closed if closed else None


def _chained_benchmark(runs: list[TestRun]) -> Metric:
    """Buy and hold over each test window, chained as the windows' equity is."""
    growth = 1.0
    for run in runs:
        window = run.metrics.get("benchmark_return")
        if window is None:
            return None
        growth *= 1.0 + window
    return finite_or_none(growth - 1.0) if runs else None


def chained_metrics(
    runs: list[TestRun], interval: str, initial_capital: float
) -> dict[str, Metric]:
    """Metrics of the test windows' returns chained into one equity curve.

    Each window starts again from the initial capital, so window k's equity and profits are
    scaled by the growth of the windows before it; counts and sums over trades (`num_trades`,
    `fees_paid`, `funding_paid`, `liquidations`, the long and short ones) are the windows'
    totals, `avg_bars_held` the mean over all their closed trades and `benchmark_return` the
    windows' buy and hold chained.
    """
    finals = [float(run.equity[-1]) if run.equity.size else None for run in runs]
    equity, pnl = [], []
    for run, scale in zip(runs, chain_scales(finals, initial_capital), strict=True):
        equity.append(run.equity * scale)
        pnl.append(np.asarray(run.closed_pnl, np.float64) * scale)
    metrics = compute_metrics(
        np.concatenate(equity) if equity else _NO_EQUITY,
        span_of(np.concatenate([run.times for run in runs]) if runs else _NO_TIMES),
        interval,
        initial_capital,
        closed_pnl=np.concatenate(pnl) if pnl else _NO_EQUITY,
        closed_returns=np.asarray([r for run in runs for r in run.closed_returns], np.float64),
        num_trades=0,
        fees_paid=0.0,
        bars_held=sum(run.bars_held for run in runs),
    )
    metrics.update({key: _total(runs, key) for key in _WINDOW_TOTALS})
    metrics["avg_bars_held"] = _avg_bars_held(runs)
    metrics["benchmark_return"] = _chained_benchmark(runs)
    return metrics
