"""PBO from per-block sums against a direct, slow CSCV on the full return matrix."""

import itertools
import math

import numpy as np
import pytest
from backtesting.test import EURUSD
from scipy import stats

from domain.research.backtest_overfitting import BlockSums, probability_of_overfitting


def slow_cscv(returns: np.ndarray, blocks: int) -> tuple[float, float]:
    """The textbook procedure: the (bars x sets) matrix, every split, ranks by scipy."""
    sets, bars = returns.shape
    length = bars // blocks
    parts = [returns[:, b * length : (b + 1) * length] for b in range(blocks)]
    logits, losses = [], 0
    for chosen in itertools.combinations(range(blocks), blocks // 2):
        in_sample = np.concatenate([parts[b] for b in chosen], axis=1)
        out = np.concatenate([parts[b] for b in range(blocks) if b not in chosen], axis=1)
        is_sr = in_sample.mean(axis=1) / in_sample.std(axis=1, ddof=1)
        oos_sr = out.mean(axis=1) / out.std(axis=1, ddof=1)
        best = int(np.argmax(is_sr))
        rank = stats.rankdata(oos_sr)[best]
        w = rank / (sets + 1)
        logits.append(math.log(w / (1 - w)))
        losses += oos_sr[best] <= 0
    combos = math.comb(blocks, blocks // 2)
    return sum(1 for x in logits if x <= 0) / combos, losses / combos


def sma_returns(close: np.ndarray, windows: list[int]) -> np.ndarray:
    """Per-bar returns of long-while-above-SMA rules: real, correlated trial returns."""
    changes = np.diff(close) / close[:-1]
    rows = []
    for n in windows:
        sma = np.convolve(close, np.ones(n) / n, mode="full")[: close.size]
        held = (close > sma)[:-1] & (np.arange(close.size - 1) >= n)
        rows.append(np.where(held, changes, 0.0))
    return np.array(rows)


@pytest.mark.parametrize("blocks", [4, 6, 8, 10])
def test_pbo_matches_the_direct_procedure_on_real_trials(blocks: int):
    close = EURUSD["Close"].to_numpy()[:3000]
    returns = sma_returns(close, [5, 8, 13, 21, 34, 55, 89])
    got = probability_of_overfitting(BlockSums.of(returns, blocks))
    assert got is not None
    pbo, loss = slow_cscv(returns, blocks)
    assert got.pbo == pytest.approx(pbo, abs=1e-12)
    assert got.prob_oos_loss == pytest.approx(loss, abs=1e-12)


def test_pure_noise_is_overfit_about_half_the_time():
    rng = np.random.default_rng(3)
    returns = rng.normal(0, 0.01, size=(40, 4000))
    got = probability_of_overfitting(BlockSums.of(returns, 10))
    assert got is not None and 0.3 < got.pbo < 0.7


def test_one_set_that_is_always_best_is_not_overfit():
    rng = np.random.default_rng(4)
    returns = rng.normal(0, 0.01, size=(10, 2000))
    returns[3] += 0.01  # a real edge in every block
    got = probability_of_overfitting(BlockSums.of(returns, 8))
    assert got is not None and got.pbo == 0.0 and got.prob_oos_loss == 0.0


def test_block_sums_of_chunks_stack_in_grid_order():
    rng = np.random.default_rng(5)
    returns = rng.normal(0, 0.01, size=(6, 999))
    whole = BlockSums.of(returns, 6)
    stacked = BlockSums.stack([BlockSums.of(returns[:2], 6), BlockSums.of(returns[2:], 6)])
    np.testing.assert_array_equal(whole.sums, stacked.sums)
    assert whole.bars_per_block == 166  # 999 // 6, the last 3 bars unused


def test_undefined_cases_are_none():
    assert probability_of_overfitting(BlockSums.of(np.ones((1, 100)), 4)) is None
    assert probability_of_overfitting(BlockSums.of(np.ones((3, 100)), 5)) is None
    assert probability_of_overfitting(BlockSums.of(np.ones((3, 4)), 4)) is None
