"""The probability of backtest overfitting (PBO) by combinatorially symmetric cross-validation.

Bailey, Borwein, López de Prado and Zhu, "The Probability of Backtest Overfitting" (2015).
The per-bar returns of N parameter sets are cut into S equal blocks; for every choice of S/2
blocks as in-sample, the set with the best in-sample Sharpe ratio is ranked out of sample.
Only per-block sums are needed (each worker reduces its own sets to S x 2 numbers), so the
memory is blocks x sets, never bars x sets.
"""

import itertools
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
# Combinations evaluated at once: at most this many, and at most CELLS_PER_BATCH / sets, so
# the temporary (combinations x sets) arrays stay a few MB however large the grid.
COMBINATIONS_PER_BATCH = 1024
CELLS_PER_BATCH = 1024 * 400


@dataclass(frozen=True)
class BlockSums:
    """Per set and block: the sum and the sum of squares of the per-bar returns."""

    sums: FloatArray  # (sets, blocks)
    squares: FloatArray  # (sets, blocks)
    bars_per_block: int

    @classmethod
    def of(cls, returns: FloatArray, blocks: int) -> "BlockSums":
        """From a (sets, bars) matrix (or one set's bars); the last bars mod `blocks` unused."""
        matrix = np.atleast_2d(np.asarray(returns, np.float64))
        length = matrix.shape[1] // blocks
        cut = matrix[:, : length * blocks].reshape(matrix.shape[0], blocks, length)
        return cls(cut.sum(axis=2), (cut**2).sum(axis=2), length)

    @classmethod
    def stack(cls, parts: "list[BlockSums]") -> "BlockSums":
        """The sets of several chunks together, in the grid's order."""
        if len({p.bars_per_block for p in parts}) != 1:
            raise ValueError("block sums of different block lengths")
        return cls(
            np.concatenate([p.sums for p in parts]),
            np.concatenate([p.squares for p in parts]),
            parts[0].bars_per_block,
        )


@dataclass(frozen=True)
class Overfitting:
    pbo: float  # fraction of combinations whose in-sample best is at or below the OOS median
    prob_oos_loss: float  # fraction whose in-sample best has an OOS Sharpe ratio <= 0


def _sharpe(total: FloatArray, squares: FloatArray, count: int) -> FloatArray:
    """mean / std (ddof 1) from sums; NaN where undefined."""
    mean = total / count
    with np.errstate(invalid="ignore", divide="ignore"):
        variance = (squares - total * mean) / (count - 1)
        return np.where(variance > 0, mean / np.sqrt(np.maximum(variance, 0.0)), np.nan)


def probability_of_overfitting(sums: BlockSums) -> Overfitting | None:
    """PBO and the probability of an out-of-sample loss, or None when undefined (fewer than
    two sets, an odd number of blocks, too few bars, no set with a Sharpe ratio)."""
    sets, blocks = sums.sums.shape
    half = blocks // 2
    if sets < 2 or blocks < 2 or blocks % 2 or sums.bars_per_block * half < 2:
        return None
    count = sums.bars_per_block * half
    total_sum, total_squares = sums.sums.sum(axis=1), sums.squares.sum(axis=1)
    overfit = losses = combinations = 0
    chosen = itertools.combinations(range(blocks), half)
    per_batch = max(1, min(COMBINATIONS_PER_BATCH, CELLS_PER_BATCH // sets))
    while batch := list(itertools.islice(chosen, per_batch)):
        in_sample = np.zeros((len(batch), blocks))
        in_sample[np.repeat(np.arange(len(batch)), half), np.asarray(batch).ravel()] = 1.0
        is_sum, is_squares = in_sample @ sums.sums.T, in_sample @ sums.squares.T
        is_sharpe = _sharpe(is_sum, is_squares, count)
        oos_sharpe = _sharpe(total_sum - is_sum, total_squares - is_squares, count)
        # Undefined ranks last in sample; argmax takes the earlier set on a tie.
        best = np.argmax(np.where(np.isnan(is_sharpe), -np.inf, is_sharpe), axis=1)
        rows = np.arange(len(batch))
        # A split where no set has an in-sample Sharpe ratio chooses nothing: not counted.
        rows = rows[~np.isnan(is_sharpe[rows, best])]
        best = best[rows]
        oos = np.where(np.isnan(oos_sharpe), -np.inf, oos_sharpe)
        best_oos = oos[rows, best][:, None]
        oos = oos[rows]
        rank = 1.0 + (oos < best_oos).sum(axis=1) + ((oos == best_oos).sum(axis=1) - 1) / 2.0
        relative = rank / (sets + 1.0)
        logit = np.log(relative / (1.0 - relative))
        overfit += int(np.count_nonzero(logit <= 0.0))
        losses += int(np.count_nonzero(~(best_oos[:, 0] > 0.0)))
        combinations += len(rows)
    if combinations == 0:
        return None
    return Overfitting(overfit / combinations, losses / combinations)


def combinations_count(blocks: int) -> int:
    return math.comb(blocks, blocks // 2)
