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


def numpy_cscv(sums: BlockSums) -> tuple[float, float] | None:
    """The same counts with numpy, one split at a time, the in-sample sums added block by
    block in block order (the arithmetic the compiled loop promises)."""
    sets, blocks = sums.sums.shape
    half, count = blocks // 2, sums.bars_per_block * blocks // 2

    def sharpe(total: np.ndarray, squares: np.ndarray) -> np.ndarray:
        mean = total / count
        with np.errstate(invalid="ignore", divide="ignore"):
            variance = (squares - total * mean) / (count - 1)
            return np.where(variance > 0, mean / np.sqrt(np.maximum(variance, 0.0)), np.nan)

    overfit = losses = splits = 0
    for chosen in itertools.combinations(range(blocks), half):
        is_sum, is_squares = np.zeros(sets), np.zeros(sets)
        for b in chosen:
            is_sum, is_squares = is_sum + sums.sums[:, b], is_squares + sums.squares[:, b]
        is_sr = sharpe(is_sum, is_squares)
        best = int(np.argmax(np.where(np.isnan(is_sr), -np.inf, is_sr)))
        if np.isnan(is_sr[best]):
            continue
        oos = sharpe(sums.sums.sum(axis=1) - is_sum, sums.squares.sum(axis=1) - is_squares)
        oos = np.where(np.isnan(oos), -np.inf, oos)
        rank = 1.0 + (oos < oos[best]).sum() + ((oos == oos[best]).sum() - 1) / 2.0
        relative = rank / (sets + 1.0)
        overfit += bool(np.log(relative / (1.0 - relative)) <= 0.0)
        losses += not oos[best] > 0.0
        splits += 1
    return None if splits == 0 else (overfit / splits, losses / splits)


@pytest.mark.parametrize("seed", range(6))
def test_pbo_has_the_bits_of_numpy_on_ties_and_undefined_sets(seed: int):
    rng = np.random.default_rng(seed)
    for _ in range(12):
        sets = int(rng.integers(2, 30))
        blocks = int(rng.choice([2, 4, 6, 8]))
        returns = rng.normal(0, 1e-3, (sets, blocks * int(rng.integers(1, 20))))
        returns[rng.integers(0, sets, sets // 2)] = returns[0]  # identical sets tie
        returns[rng.random(sets) < 0.2] = 0.0  # no variance: undefined
        if seed % 2:  # coarse returns: equal Sharpe ratios of different sets
            returns = np.round(returns * 2000) / 2000
        sums = BlockSums.of(returns, blocks)
        got = probability_of_overfitting(sums)
        expected = numpy_cscv(sums)
        assert (got is None and expected is None) or (
            got is not None and (got.pbo, got.prob_oos_loss) == expected
        )
