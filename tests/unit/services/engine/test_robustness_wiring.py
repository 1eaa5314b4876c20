"""psr in every run's metrics, and the robustness statistics gathered chunk by chunk, against
the pure statistics on the full return matrix and scipy."""

import dataclasses
import math
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError
from scipy import stats

from domain.backtest import run_backtest
from domain.metrics.performance import per_bar_returns
from domain.research.backtest_overfitting import BlockSums, probability_of_overfitting
from domain.research.robustness import SetStatistics, robustness
from domain.research.sharpe_inference import ReturnMoments, deflated_sharpe, probabilistic_sharpe
from services.engine.optimization.in_pool import (
    HeldCandles,
    bars_between,
    run_grid_chunk,
    run_train_chunk,
)
from services.engine.optimization.parsed_request import parse_optimization
from shared.backtest_spec import BacktestSpec
from shared.optimization_spec import OptimizationSpec
from tests.support.market import random_walk

T0 = 1_704_067_200_000
BARS = 1_203  # not a multiple of the blocks: the last bars are unused
REQUEST: dict[str, Any] = {
    "kind": "grid",
    "backtest": {
        "category": "linear",
        "symbol": "BTCUSDT",
        "interval": "60",
        "start": T0,
        "end": T0 + BARS * 3_600_000,
        "strategy": {"name": "sma_cross"},
        "direction": "long_short",
    },
    "param_grid": {"fast": [3, 5, 8], "slow": [20, 30, 50]},
    "robustness_blocks": 6,
}
PARSED = parse_optimization(REQUEST)[1]  # as the chunk consumer parses it
SETS = [{"fast": f, "slow": s} for f in (3, 5, 8) for s in (20, 30, 50)]


def _returns_of(candles: Any, params: dict[str, Any]) -> np.ndarray:
    config = BacktestSpec.model_validate(REQUEST["backtest"]).config()
    result = run_backtest(candles, dataclasses.replace(config, params=params))
    return per_bar_returns(result.equity, config.execution.initial_capital)


def test_a_backtests_psr_is_the_probabilistic_sharpe_of_its_per_bar_returns() -> None:
    candles = random_walk(T0, BARS, "60", seed=3)
    config = BacktestSpec.model_validate(REQUEST["backtest"]).config()
    result = run_backtest(candles, dataclasses.replace(config, params={"fast": 5, "slow": 30}))
    returns = per_bar_returns(result.equity, config.execution.initial_capital)
    assert result.metrics["psr"] == probabilistic_sharpe(ReturnMoments.of(returns))
    # And against scipy's moments and normal law, written out.
    sr = returns.mean() / returns.std(ddof=1)
    skew = stats.skew(returns, bias=True)
    kurt = stats.kurtosis(returns, fisher=False, bias=True)
    z = sr * math.sqrt(returns.size - 1) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr**2)
    assert result.metrics["psr"] == pytest.approx(stats.norm.cdf(z), rel=1e-9)


def test_psr_is_null_without_variance() -> None:
    candles = random_walk(T0, 200, "60", seed=3)
    config = BacktestSpec.model_validate(REQUEST["backtest"]).config()
    # A slow SMA longer than the data never trades: equity is flat.
    result = run_backtest(candles, dataclasses.replace(config, params={"fast": 5, "slow": 500}))
    assert result.metrics["psr"] is None


def test_chunks_gather_what_the_full_return_matrix_gives() -> None:
    candles = random_walk(T0, BARS, "60", seed=5)
    source = HeldCandles(("linear", "ROBUST", "60", 0, 1, 2, 0), candles)
    first, statistics_first = run_grid_chunk(source, 0, PARSED, SETS[:4], 0)
    second, statistics_second = run_grid_chunk(HeldCandles(source.key), 0, PARSED, SETS[4:], 4)
    parts = [SetStatistics.from_bytes(s.to_bytes()) for s in (statistics_second, statistics_first)]
    gathered = SetStatistics.stack(parts)

    matrix = np.asarray([_returns_of(candles, p) for p in SETS])
    expected = BlockSums.of(matrix, 6)
    assert gathered.blocks.bars_per_block == expected.bars_per_block == BARS // 6
    np.testing.assert_allclose(gathered.blocks.sums, expected.sums, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(gathered.blocks.squares, expected.squares, rtol=1e-12)
    for index, returns in enumerate(matrix):
        assert gathered.moments_of(index) == ReturnMoments.of(returns)
    # Each row's psr is the pure function's on the same returns.
    for result, returns in zip([*first, *second], matrix, strict=True):
        assert result.metrics["psr"] == probabilistic_sharpe(ReturnMoments.of(returns))

    best = max(range(len(SETS)), key=lambda i: ReturnMoments.of(matrix[i]).sharpe)  # type: ignore[union-attr]
    figures = robustness(parts, best)
    overfitting = probability_of_overfitting(expected)
    assert overfitting is not None
    assert figures["trials"] == len(SETS)
    assert figures["pbo"] == pytest.approx(overfitting.pbo, abs=1e-12)
    assert figures["prob_oos_loss"] == pytest.approx(overfitting.prob_oos_loss, abs=1e-12)
    sharpes = [ReturnMoments.of(r).sharpe for r in matrix]  # type: ignore[union-attr]
    assert figures["dsr"] == deflated_sharpe(ReturnMoments.of(matrix[best]), sharpes)
    assert figures["dsr"] is not None and 0.0 <= figures["dsr"] <= 1.0


def test_a_train_chunk_gathers_statistics_over_its_train_bars_alone() -> None:
    candles = random_walk(T0, BARS, "60", seed=9)
    source = HeldCandles(("linear", "TRAIN", "60", 0, 1, 2, 0), candles)
    _, statistics = run_train_chunk(source, (100, 700), PARSED, SETS, 0)
    train = bars_between(candles, 100, 700)
    matrix = np.asarray([_returns_of(train, p) for p in SETS])
    np.testing.assert_allclose(statistics.blocks.sums, BlockSums.of(matrix, 6).sums, rtol=1e-12)


def test_no_chunk_and_undefined_figures_are_null() -> None:
    assert robustness([], None) == {"trials": 0, "dsr": None, "pbo": None, "prob_oos_loss": None}
    flat = SetStatistics.of(0, [None, None], np.zeros((2, 4)), np.zeros((2, 4)), 10)
    assert robustness([flat], 0) == {"trials": 2, "dsr": None, "pbo": None, "prob_oos_loss": None}


@pytest.mark.parametrize("blocks", [2, 3, 5, 22, 16.0])
def test_robustness_blocks_are_even_from_4_to_20(blocks: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        OptimizationSpec.model_validate({**REQUEST, "robustness_blocks": blocks})
    assert caught.value.errors()[0]["loc"] == ("robustness_blocks",)


def test_robustness_blocks_default_to_16() -> None:
    request = {k: v for k, v in REQUEST.items() if k != "robustness_blocks"}
    assert OptimizationSpec.model_validate(request).robustness_blocks == 16
