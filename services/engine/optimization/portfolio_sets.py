"""What runs in the engine's process pool for a grid over a portfolio: every symbol's candles
and the chunk's parameter sets in, each set's metrics and robustness statistics out.

Each set is one portfolio backtest (`domain.portfolio_backtest.run_portfolio`) with the
strategy's parameters, the backtest fields and `max_positions` of the set, every symbol warmed
on as many stored bars as the set's own `warmup_bars` takes, as its backtest would be.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from domain.execution.settings import PORTFOLIO_GRID_FIELD
from domain.metrics.performance import per_bar_returns
from domain.metrics.sweep import block_sums
from domain.portfolio_backtest import (
    PortfolioRules,
    SymbolSeries,
    run_portfolio,
    series_warmed_on,
)
from domain.research.robustness import SetStatistics
from domain.research.sharpe_inference import ReturnMoments
from domain.strategies.warmup import warmup_bars
from services.engine.optimization.in_pool import (
    Params,
    SetResult,
    robustness_blocks,
    set_config,
    set_statistics,
)
from shared.backtest_spec import BacktestSpec


def run_portfolio_grid_chunk(
    series: Sequence[SymbolSeries],
    request: Mapping[str, Any],
    param_sets: Sequence[Params],
    first_index: int,
) -> tuple[list[SetResult], SetStatistics]:
    spec = BacktestSpec.model_validate(request["backtest"])
    portfolio = spec.portfolio
    assert portfolio is not None and portfolio.max_positions is not None
    every = None if portfolio.rebalance is None else portfolio.rebalance.every
    config = spec.config()
    blocks = robustness_blocks(request)
    results = []
    bars = 0
    for i, params in enumerate(param_sets):
        slots = int(params.get(PORTFOLIO_GRID_FIELD, portfolio.max_positions))
        one = set_config(config, {k: v for k, v in params.items() if k != PORTFOLIO_GRID_FIELD})
        warm = warmup_bars(spec.warmup_bars, one.strategy_entry(), one.params, spec.interval)
        warmed = [series_warmed_on(s, warm) for s in series]
        result = run_portfolio(warmed, one, PortfolioRules(slots, portfolio.rank, every))
        returns = per_bar_returns(result.equity, one.execution.initial_capital)
        sums, squares = block_sums(returns, blocks)
        moments = ReturnMoments.of(returns) if returns.size else None
        results.append(
            SetResult(first_index + i, dict(params), result.metrics, moments, sums, squares)
        )
        bars = int(result.time.size)
    return results, set_statistics(results, bars, blocks)
