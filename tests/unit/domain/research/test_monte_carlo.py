"""Monte Carlo of trades: reproducible by seed, and its mean matches the expectation."""

import numpy as np
import pytest

from domain.backtest import simulate_targets
from domain.execution.settings import ExecutionSettings
from domain.research.monte_carlo import resample_trades
from tests.support.candles import bars

RETURNS = np.array([0.05, -0.02, 0.031, -0.04, 0.012, 0.0, 0.07, -0.015])


def test_same_seed_same_numbers_and_another_seed_others():
    first = resample_trades(RETURNS, 10_000.0, 2_000, seed=1)
    assert resample_trades(RETURNS, 10_000.0, 2_000, seed=1) == first
    assert resample_trades(RETURNS, 10_000.0, 2_000, seed=2) != first


def test_the_mean_final_equity_matches_its_expectation_within_its_standard_error():
    # Draws are independent, so E[final] = capital * (1 + mean return) ** trades.
    runs, capital = 20_000, 10_000.0
    result = resample_trades(RETURNS, capital, runs, seed=7)
    # Recompute the runs' finals the way the module draws them, to get their mean and spread.
    rng = np.random.default_rng(7)
    draws = RETURNS[rng.integers(0, RETURNS.size, (runs, RETURNS.size))]
    rng_finals = capital * np.prod(1 + draws, axis=1)
    assert result.final_equity["p50"] == pytest.approx(np.percentile(rng_finals, 50))
    expected = capital * (1 + RETURNS.mean()) ** RETURNS.size
    standard_error = rng_finals.std(ddof=1) / np.sqrt(runs)
    assert abs(rng_finals.mean() - expected) < 3 * standard_error
    assert result.prob_loss == pytest.approx(np.mean(rng_finals < capital))


def test_drawdowns_and_percentiles_are_ordered():
    result = resample_trades(RETURNS, 1_000.0, 5_000, seed=3)
    finals = list(result.final_equity.values())
    drawdowns = list(result.max_drawdown.values())
    assert finals == sorted(finals) and drawdowns == sorted(drawdowns)
    assert drawdowns[0] >= 0.0 and drawdowns[-1] < 1.0
    # The worst single trade alone is a drawdown of 4%: some runs must show at least that.
    assert drawdowns[-1] >= 0.04


def test_no_closed_trade_means_flat_runs():
    result = resample_trades(np.empty(0), 500.0, 100, seed=1)
    assert set(result.final_equity.values()) == {500.0}
    assert result.prob_loss == 0.0


def test_from_a_backtest_s_closed_trades():
    candles = bars([(100, 101, 99, 100), (100, 103, 99, 102), (102, 103, 97, 98)] * 10)
    result = simulate_targets(candles, np.array([1, 0, 1] * 10, np.int8), ExecutionSettings(), "1")
    closed = result.trades.returns[result.trades.closed]
    assert closed.size > 5
    mc = resample_trades(closed, 10_000.0, 1_000, seed=1)
    assert mc.runs == 1_000 and 0.0 <= mc.prob_loss <= 1.0
