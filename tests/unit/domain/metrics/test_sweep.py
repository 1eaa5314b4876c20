"""Grid evaluation gives exactly run_backtest's metrics; walk-forward chaining of test windows."""

from typing import Any

import numpy as np
import pytest

from domain.backtest import run_backtest
from domain.execution.config import BacktestConfig
from domain.execution.settings import ExecutionSettings
from domain.market.candles import Candles
from domain.market.perp_market import PerpMarket, perp_market
from domain.metrics import sweep as sweep_metrics
from domain.metrics.sweep import chained_metrics
from services.engine.optimization.in_pool import (
    SetResult,
    bars_between,
    best_result,
    evaluate_sets,
    run_test_window,
)
from services.engine.optimization.parsed_request import ParsedOptimization
from shared.backtest_spec import BacktestSpec
from tests.support.market import random_walk

T0 = 1_704_067_200_000
SETS = [{"fast": f, "slow": s} for f in (2, 5, 9) for s in (12, 40)]


def _request(**backtest: Any) -> ParsedOptimization:
    """An optimization of this backtest, as the engine's chunk consumer parses it."""
    spec = BacktestSpec.model_validate(
        {
            "category": "linear",
            "symbol": "BTCUSDT",
            "interval": "60",
            "start": T0,
            "end": T0 + 10**10,
            "strategy": {"name": "sma_cross"},
            **backtest,
        }
    )
    return ParsedOptimization.of(spec)


def _config(params: dict[str, Any], **execution: Any) -> BacktestConfig:
    return BacktestConfig("sma_cross", params, "60", ExecutionSettings(**execution))


def _blow_up(candles: Candles) -> Candles:
    """A rally that takes a full short beyond bankruptcy: equity crosses zero."""
    rally = np.linspace(1.0, 4.0, len(candles))
    return Candles(
        candles.open_time,
        candles.open * rally,
        candles.high * rally,
        candles.low * rally,
        candles.close * rally,
        candles.volume,
        candles.turnover,
    )


@pytest.mark.parametrize(
    "execution",
    [
        {},
        {"direction": "long_short", "fee_rate": 0.001, "slippage_bps": 5.0},
        {"direction": "short_only", "fill": "close", "position_size": 0.5},
        {"direction": "long_short", "stop_loss": 0.01, "take_profit": 0.03},
    ],
)
def test_each_set_equals_a_single_backtest(execution: dict[str, Any]) -> None:
    candles = random_walk(T0, 1500, "60", seed=11)
    results = evaluate_sets(candles, _request(**execution), SETS, 100)
    assert [r.index for r in results] == list(range(100, 100 + len(SETS)))
    for result, params in zip(results, SETS, strict=True):
        assert result.metrics == run_backtest(candles, _config(params, **execution)).metrics


def test_a_blown_up_short_still_equals_a_single_backtest() -> None:
    candles = _blow_up(random_walk(T0, 400, "60", seed=5))
    execution = {"direction": "short_only"}
    results = evaluate_sets(candles, _request(**execution), SETS, 0)
    for result, params in zip(results, SETS, strict=True):
        expected = run_backtest(candles, _config(params, **execution)).metrics
        assert result.metrics == expected


def test_best_is_by_objective_nulls_last_lower_drawdown_first_ties_to_the_earlier() -> None:
    results = [
        SetResult(0, {}, {"sharpe": None, "max_drawdown": 0.2}),
        SetResult(1, {}, {"sharpe": 1.0, "max_drawdown": 0.3}),
        SetResult(2, {}, {"sharpe": 2.0, "max_drawdown": 0.1}),
        SetResult(3, {}, {"sharpe": 2.0, "max_drawdown": None}),
    ]
    assert best_result(results, "sharpe").index == 2
    assert best_result(results, "max_drawdown").index == 2
    assert best_result(results[:1], "sharpe").index == 0


def test_test_window_is_warmed_up_and_chained_windows_compound() -> None:
    candles = random_walk(T0, 900, "60", seed=2)
    request = _request(direction="long_short")
    params = {"fast": 5, "slow": 40}
    windows = [(300, 500), (500, 700), (700, 900)]
    runs = []
    for test_from, test_to in windows:
        metrics, run = run_test_window(
            bars_between(candles, 0, test_to), request, params, test_from
        )
        alone = run_backtest(candles, _config(params, direction="long_short"), test_from, test_to)
        assert metrics == alone.metrics and np.array_equal(run.equity, alone.equity)
        runs.append(run)
    chained = chained_metrics(runs, "60", 10_000.0)
    growth = np.prod([run.equity[-1] / 10_000.0 for run in runs])
    assert chained["final_equity"] == pytest.approx(10_000.0 * growth, rel=1e-12)
    for total in ("num_trades", "long_trades", "short_trades", "liquidations"):
        assert chained[total] == sum(_number(run, total) for run in runs), total
    for total in ("fees_paid", "long_pnl", "short_pnl"):
        assert chained[total] == pytest.approx(sum(_number(run, total) for run in runs)), total
    closed = [_number(run, "long_trades") + _number(run, "short_trades") for run in runs]
    held = sum(_number(run, "avg_bars_held") * n for run, n in zip(runs, closed, strict=True))
    assert chained["avg_bars_held"] == pytest.approx(held / sum(closed))
    growth = [candles.close[b - 1] / candles.open[a] for a, b in windows]
    assert chained["benchmark_return"] == pytest.approx(np.prod(growth) - 1, rel=1e-12)
    assert chained["exposure"] == pytest.approx(sum(r.bars_held for r in runs) / 600)


def _number(run: sweep_metrics.TestRun, key: str) -> float:
    """A window's metric that must be defined."""
    value = run.metrics[key]
    assert value is not None, key
    return value


def _perp_market(candles: Candles) -> PerpMarket:
    """A mark 0.3% below the candles and a funding every 8 hours, alternating in sign."""
    mark = Candles(
        candles.open_time,
        candles.open * 0.997,
        candles.high * 0.997,
        candles.low * 0.997,
        candles.close * 0.997,
        candles.volume,
        candles.turnover,
    )
    times = candles.open_time[::8] + 1
    rates = np.where(np.arange(times.size) % 2 == 0, 0.0004, -0.0002)
    return perp_market(candles, "60", mark, times, rates)


@pytest.mark.parametrize("contract", ["linear", "inverse"])
def test_a_perpetual_grid_over_leverage_equals_single_backtests(contract: str) -> None:
    candles = random_walk(T0, 1200, "60", seed=4)
    market = _perp_market(candles)
    execution: dict[str, Any] = {"direction": "long_short", "position_size": 0.5}
    request = _request(**execution, category=contract, maintenance_margin_rate=0.01)
    sets = [{**s, "leverage": lev} for s in SETS[:3] for lev in (1.0, 10.0, 40.0)]
    results = evaluate_sets(candles, request, sets, 0, 50, market)
    liquidations = 0
    for result, params in zip(results, sets, strict=True):
        config = _config(
            {"fast": params["fast"], "slow": params["slow"]},
            **execution,
            contract=contract,
            leverage=params["leverage"],
            funding=True,
            maintenance_margin_rate=0.01,
        )
        expected = run_backtest(candles, config, trade_from=50, market=market).metrics
        assert result.metrics == expected
        assert expected["funding_paid"] != 0.0
        liquidations += int(expected["liquidations"] or 0)
    assert liquidations > 0


def test_a_perpetual_test_window_books_funding_and_chains_it() -> None:
    candles = random_walk(T0, 900, "60", seed=2)
    market = _perp_market(candles)
    request = _request(direction="long_short", leverage=5)
    params = {"fast": 5, "slow": 40}
    runs = []
    for test_from, test_to in [(300, 600), (600, 900)]:
        metrics, run = run_test_window(
            bars_between(candles, 0, test_to),
            request,
            params,
            test_from,
            market.between(0, test_to),
        )
        config = _config(
            params, direction="long_short", contract="linear", leverage=5.0, funding=True
        )
        alone = run_backtest(candles, config, test_from, test_to, market=market)
        assert metrics == alone.metrics and metrics["funding_paid"] != 0.0
        runs.append(run)
    chained = chained_metrics(runs, "60", 10_000.0)
    # The stitched curve's funding is what its windows paid (issue 20: it said 0.0).
    assert chained["funding_paid"] == pytest.approx(
        _number(runs[0], "funding_paid") + _number(runs[1], "funding_paid"), rel=1e-12
    )
    assert chained["funding_paid"] != 0.0
