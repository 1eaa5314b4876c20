"""The probability of backtest overfitting (PBO) by combinatorially symmetric cross-validation.

Bailey, Borwein, López de Prado and Zhu, "The Probability of Backtest Overfitting" (2015).
The per-bar returns of N parameter sets are cut into S equal blocks; for every choice of S/2
blocks as in-sample, the set with the best in-sample Sharpe ratio is ranked out of sample.
Only per-block sums are needed (each worker reduces its own sets to S x 2 numbers), so the
memory is blocks x sets, never bars x sets; every split is evaluated in one compiled loop.
"""

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from domain.compiled_cache import njit

FloatArray = npt.NDArray[np.float64]


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


def probability_of_overfitting(sums: BlockSums) -> Overfitting | None:
    """PBO and the probability of an out-of-sample loss, or None when undefined (fewer than
    two sets, an odd number of blocks, too few bars, no set with a Sharpe ratio)."""
    sets, blocks = sums.sums.shape
    half = blocks // 2
    if sets < 2 or blocks < 2 or blocks % 2 or sums.bars_per_block * half < 2:
        return None
    count = sums.bars_per_block * half
    # The totals as numpy sums them (pairwise), the out-of-sample sums as total - in-sample.
    total_sum, total_squares = sums.sums.sum(axis=1), sums.squares.sum(axis=1)
    overfit, losses, combinations = _cscv_counts(
        np.ascontiguousarray(sums.sums.T),
        np.ascontiguousarray(sums.squares.T),
        total_sum,
        total_squares,
        half,
        count,
    )
    if combinations == 0:
        return None
    return Overfitting(overfit / combinations, losses / combinations)


@njit(cache=True, error_model="numpy", inline="always")
def _sharpe(total: float, squares: float, count: int) -> float:
    """mean / std (ddof 1) from sums; NaN where undefined."""
    mean = total / count
    variance = (squares - total * mean) / (count - 1)
    return mean / np.sqrt(variance) if variance > 0.0 else np.nan


@njit(cache=True, error_model="numpy", inline="always")
def _ranked(sharpe: float) -> float:
    """An undefined Sharpe ratio ranks last."""
    return -np.inf if np.isnan(sharpe) else sharpe


@njit(cache=True, error_model="numpy")
def _cscv_counts(
    sums: FloatArray,
    squares: FloatArray,
    total_sum: FloatArray,
    total_squares: FloatArray,
    half: int,
    count: int,
) -> tuple[int, int, int]:
    """Over every choice of `half` of the blocks as in-sample, in itertools.combinations'
    order: the splits whose in-sample best ranks at or below the out-of-sample median, those
    whose in-sample best has an out-of-sample Sharpe ratio <= 0, and the splits counted.
    `sums` and `squares` are (blocks, sets). A split's in-sample sums add its blocks one by
    one in block order from 0.0, each prefix kept while the combinations that share it are
    visited: the bits of the 0/1 matrix products this replaced (12x the CPU) wherever
    OpenBLAS's main kernel ran them; its edge kernels (a last column, a one-row product)
    added in another order, so there identical sets could fail to tie."""
    blocks, sets = sums.shape
    chosen = np.arange(half)
    prefix_sum = np.zeros((half + 1, sets))
    prefix_squares = np.zeros((half + 1, sets))
    is_sharpe = np.empty(sets)
    oos = np.empty(sets)
    overfit = losses = combinations = 0
    changed = 0  # the first position of `chosen` whose prefix is stale
    while True:
        for d in range(changed, half):
            block = chosen[d]
            for j in range(sets):
                prefix_sum[d + 1, j] = prefix_sum[d, j] + sums[block, j]
                prefix_squares[d + 1, j] = prefix_squares[d, j] + squares[block, j]
        is_sum = prefix_sum[half]
        is_squares = prefix_squares[half]
        for j in range(sets):
            is_sharpe[j] = _ranked(_sharpe(is_sum[j], is_squares[j], count))
        best = np.argmax(is_sharpe)  # the earlier set wins a tie
        # A split where no set has an in-sample Sharpe ratio chooses nothing: not counted.
        if not np.isnan(_sharpe(is_sum[best], is_squares[best], count)):
            for j in range(sets):
                oos[j] = _ranked(
                    _sharpe(total_sum[j] - is_sum[j], total_squares[j] - is_squares[j], count)
                )
            best_oos = oos[best]
            below = equal = 0
            for j in range(sets):
                below += oos[j] < best_oos
                equal += oos[j] == best_oos
            rank = 1.0 + below + (equal - 1) / 2.0
            relative = rank / (sets + 1.0)
            overfit += np.log(relative / (1.0 - relative)) <= 0.0
            losses += not best_oos > 0.0
            combinations += 1
        # The next combination: the last position that can move moves, those after it follow.
        d = half - 1
        while d >= 0 and chosen[d] == blocks - half + d:
            d -= 1
        if d < 0:
            return overfit, losses, combinations
        chosen[d] += 1
        for e in range(d + 1, half):
            chosen[e] = chosen[e - 1] + 1
        changed = d


def combinations_count(blocks: int) -> int:
    return math.comb(blocks, blocks // 2)
