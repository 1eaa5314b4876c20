"""What runs in the engine's process pool for an optimization: plain inputs, plain outputs.

A chunk's parameter sets share one indicator cache (each indicator computed once per window
length) and one copy of the price columns; each set is then a compiled simulation and a
compiled pass over its equity.
"""

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.engine.core import (
    BacktestConfig,
    IndicatorCache,
    Metric,
    contiguous_prices,
    run_backtest,
    run_kernel,
    target_positions,
)
from services.engine.optimization.sweep_metrics import TestRun, sweep_metrics
from shared.backtest_spec import BacktestSpec
from shared.candles import PRICE_FIELDS, Candles
from shared.metric_names import LOWER_IS_BETTER
from shared.strategies import ParamValue

Params = Mapping[str, ParamValue]


@dataclass(frozen=True)
class SetResult:
    index: int  # position in the request's combinations(): ties go to the earlier set
    params: dict[str, ParamValue]
    metrics: dict[str, Metric]


def ranking_key(metrics: Mapping[str, Any], objective: str, index: int) -> tuple[int, float, int]:
    """Sorts best first: by the objective (higher is better but for max_drawdown), nulls last,
    then the earlier set."""
    value = metrics.get(objective)
    if value is None:
        return (1, 0.0, index)
    return (0, value if objective in LOWER_IS_BETTER else -value, index)


def best_result(results: list[SetResult], objective: str) -> SetResult:
    return min(results, key=lambda r: ranking_key(r.metrics, objective, r.index))


def bars_between(candles: Candles, start: int, stop: int) -> Candles:
    """Bars [start, stop) as views: what a chunk sends to the pool is only what it needs."""
    return Candles(
        candles.open_time[start:stop], *(getattr(candles, f)[start:stop] for f in PRICE_FIELDS)
    )


def backtest_config(request: Mapping[str, Any]) -> BacktestConfig:
    """The core's config of an optimization request's `backtest`."""
    return BacktestConfig.from_spec(BacktestSpec.model_validate(request["backtest"]))


def evaluate_sets(
    candles: Candles, request: Mapping[str, Any], param_sets: Sequence[Params], first_index: int
) -> list[SetResult]:
    """Every set over all of `candles`; the metrics equal run_backtest's (to rounding)."""
    config = backtest_config(request)
    execution = config.execution
    cache = IndicatorCache(candles)
    prices = contiguous_prices(candles)
    first_time, last_time = int(candles.open_time[0]), int(candles.open_time[-1])
    results = []
    for offset, params in enumerate(param_sets):
        targets = target_positions(cache, config.strategy, params, execution.direction)
        kernel = run_kernel(prices, targets, 0, execution)
        metrics = sweep_metrics(
            kernel, first_time, last_time, config.interval, execution.initial_capital
        )
        results.append(SetResult(first_index + offset, dict(params), metrics))
    return results


def best_of_sets(
    candles: Candles,
    request: Mapping[str, Any],
    param_sets: Sequence[Params],
    first_index: int,
    objective: str,
) -> SetResult:
    """A walk-forward train chunk keeps only its best set."""
    return best_result(evaluate_sets(candles, request, param_sets, first_index), objective)


def run_test_window(
    candles: Candles, request: Mapping[str, Any], params: Params, test_from: int
) -> tuple[dict[str, Metric], TestRun]:
    """The chosen set over bars [test_from, len(candles)), its indicators warmed up on every
    bar before, starting flat with the initial capital."""
    config = dataclasses.replace(backtest_config(request), params=dict(params))
    result = run_backtest(candles, config, trade_from=test_from)
    trades = result.trades
    closed = trades.closed
    run = TestRun(
        times=result.time,
        equity=result.equity,
        closed_pnl=trades.pnl[closed].tolist(),
        closed_returns=trades.returns[closed].tolist(),
        num_trades=len(trades),
        fees_paid=float(trades.fees.sum()),
        bars_held=round((result.metrics["exposure"] or 0.0) * result.equity.size),
    )
    return result.metrics, run
