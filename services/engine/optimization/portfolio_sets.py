"""What runs in the engine's process pool for an optimization of a portfolio: every symbol's
candles and the chunk's parameter sets in, each set's metrics and robustness statistics out
(a grid, a walk-forward window's train grid), or a walk-forward window's test run.

Each set is one portfolio backtest (`domain.portfolio_backtest.run_portfolio`) with the
strategy's parameters, the backtest fields and `max_positions` of the set, every symbol warmed
on as many stored bars as the set's own `warmup_bars` takes, as its backtest would be.
"""

import dataclasses
from collections.abc import Sequence
from typing import Any

from domain.execution.settings import PORTFOLIO_GRID_FIELD
from domain.metrics.performance import Metric, per_bar_returns
from domain.metrics.sweep import TestRun
from domain.portfolio_backtest import (
    PortfolioRules,
    SymbolSeries,
    run_portfolio,
    series_between,
    series_warmed_on,
)
from domain.research.lane_order import block_sums
from domain.research.robustness import SetStatistics
from domain.research.sharpe_inference import ReturnMoments
from domain.strategies.warmup import warmup_bars
from services.engine.optimization.in_pool import (
    Params,
    SetResult,
    best_result,
    set_config,
    set_statistics,
)
from services.engine.optimization.parsed_request import ParsedOptimization


def _rules(run: ParsedOptimization, params: Params) -> PortfolioRules:
    assert run.portfolio is not None
    slots = int(params.get(PORTFOLIO_GRID_FIELD, run.portfolio.max_positions))
    return dataclasses.replace(run.portfolio, max_positions=slots)


def _strategy_params(params: Params) -> dict[str, Any]:
    return {k: v for k, v in params.items() if k != PORTFOLIO_GRID_FIELD}


def run_portfolio_train_chunk(
    series: Sequence[SymbolSeries],
    times: tuple[int, int],
    run: ParsedOptimization,
    param_sets: Sequence[Params],
    first_index: int,
) -> tuple[SetResult, SetStatistics]:
    """A walk-forward train chunk over the bars opening in [times] alone (warmed inside the
    window, as a one-symbol train window is): its best set and every set's statistics."""
    results, statistics = run_portfolio_window_sets(series, times, run, param_sets, first_index)
    return best_result(results, run.objective), statistics


def run_portfolio_window_sets(
    series: Sequence[SymbolSeries],
    times: tuple[int, int],
    run: ParsedOptimization,
    param_sets: Sequence[Params],
    first_index: int,
) -> tuple[list[SetResult], SetStatistics]:
    """Every set over the bars opening in [times] alone, warmed inside the window (a
    walk-forward window's Bayesian search needs each trial's objective), and their
    statistics."""
    window = series_between(series, *times, 0)
    return run_portfolio_grid_chunk(window, run, param_sets, first_index)


def run_portfolio_test_chunk(
    series: Sequence[SymbolSeries],
    times: tuple[int, int],
    run: ParsedOptimization,
    params: Params,
) -> tuple[dict[str, Metric], TestRun]:
    """The chosen set over the bars opening in [times], each symbol warmed on as many bars
    before them as the set's `warmup_bars` takes, starting flat with the initial capital."""
    base = run.config
    one = set_config(base, {**base.params, **_strategy_params(params)})
    warm = warmup_bars(run.warmup_bars, one.strategy_entry(), one.params, base.interval)
    result = run_portfolio(series_between(series, *times, warm), one, _rules(run, params))
    trades = result.trades
    closed = trades.closed
    test_run = TestRun(
        times=result.time,
        equity=result.equity,
        closed_pnl=trades.pnl[closed].tolist(),
        closed_returns=trades.returns[closed].tolist(),
        bars_held=result.kernel.bars_held,
        metrics=result.metrics,
    )
    return dict(result.metrics), test_run


def run_portfolio_grid_chunk(
    series: Sequence[SymbolSeries],
    run: ParsedOptimization,
    param_sets: Sequence[Params],
    first_index: int,
) -> tuple[list[SetResult], SetStatistics]:
    config = run.config
    blocks = run.robustness_blocks
    results = []
    bars = 0
    for i, params in enumerate(param_sets):
        one = set_config(config, _strategy_params(params))
        warm = warmup_bars(run.warmup_bars, one.strategy_entry(), one.params, config.interval)
        warmed = [series_warmed_on(s, warm) for s in series]
        result = run_portfolio(warmed, one, _rules(run, params))
        returns = per_bar_returns(result.equity, one.execution.initial_capital)
        sums, squares = block_sums(returns, blocks)
        moments = ReturnMoments.of(returns) if returns.size else None
        results.append(
            SetResult(first_index + i, dict(params), result.metrics, moments, sums, squares)
        )
        bars = int(result.time.size)
    return results, set_statistics(results, bars, blocks)
