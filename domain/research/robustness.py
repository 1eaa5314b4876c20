"""How likely a grid's best set is luck: `trials`, `dsr`, `pbo`, `prob_oos_loss`.

Each chunk keeps a few numbers per set (its per-bar returns' Sharpe ratio, skewness, kurtosis
and count, and per block their sum and sum of squares), so what is stored and combined is
blocks x sets, never bars x sets. `SetStatistics` is built in the pool and travels as bytes;
`robustness` combines a grid's chunks when its last one is recorded.
"""

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from domain.research.backtest_overfitting import BlockSums, probability_of_overfitting
from domain.research.sharpe_inference import ReturnMoments, deflated_sharpe

FloatArray = npt.NDArray[np.float64]
DEFAULT_BLOCKS = 16
_MOMENTS = 4  # sharpe, skewness, kurtosis, count per set; NaN where the Sharpe is undefined
_HEADER = 3  # first set's index, blocks, bars per block


@dataclass(frozen=True)
class SetStatistics:
    """A run of consecutive sets of one grid (a chunk's, or a whole grid's)."""

    first_index: int
    moments: FloatArray  # (sets, 4)
    blocks: BlockSums

    @classmethod
    def of(
        cls,
        first_index: int,
        moments: list[ReturnMoments | None],
        sums: FloatArray,
        squares: FloatArray,
        bars_per_block: int,
    ) -> "SetStatistics":
        rows = np.full((len(moments), _MOMENTS), np.nan)
        for row, m in zip(rows, moments, strict=True):
            if m is not None:
                row[:] = (m.sharpe, m.skewness, m.kurtosis, m.count)
        return cls(first_index, rows, BlockSums(sums, squares, bars_per_block))

    def to_bytes(self) -> bytes:
        blocks = self.blocks.sums.shape[1]
        header = np.asarray([self.first_index, blocks, self.blocks.bars_per_block], np.float64)
        body = np.hstack([self.moments, self.blocks.sums, self.blocks.squares])
        return header.astype("<f8").tobytes() + body.astype("<f8").tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> "SetStatistics":
        values = np.frombuffer(data, "<f8")
        first_index, blocks, bars_per_block = (int(v) for v in values[:_HEADER])
        body = values[_HEADER:].reshape(-1, _MOMENTS + 2 * blocks)
        sums = body[:, _MOMENTS : _MOMENTS + blocks]
        squares = body[:, _MOMENTS + blocks :]
        return cls(
            first_index,
            body[:, :_MOMENTS].copy(),
            BlockSums(sums.copy(), squares.copy(), bars_per_block),
        )

    @classmethod
    def stack(cls, parts: list["SetStatistics"]) -> "SetStatistics":
        """Chunks' statistics together, in the grid's order."""
        ordered = sorted(parts, key=lambda p: p.first_index)
        return cls(
            ordered[0].first_index,
            np.concatenate([p.moments for p in ordered]),
            BlockSums.stack([p.blocks for p in ordered]),
        )

    def moments_of(self, index: int) -> ReturnMoments | None:
        row = self.moments[index - self.first_index]
        if math.isnan(row[0]):
            return None
        return ReturnMoments(float(row[0]), float(row[1]), float(row[2]), int(row[3]))


def robustness(parts: list[SetStatistics], best_index: int | None) -> dict[str, Any]:
    """`trials`, `dsr` (of the set at `best_index`), `pbo` and `prob_oos_loss`; null where
    undefined."""
    if not parts:
        return {"trials": 0, "dsr": None, "pbo": None, "prob_oos_loss": None}
    grid = SetStatistics.stack(parts)
    best = None if best_index is None else grid.moments_of(best_index)
    sharpes = [float(s) for s in grid.moments[:, 0] if not math.isnan(s)]
    overfitting = probability_of_overfitting(grid.blocks)
    return {
        "trials": int(grid.moments.shape[0]),
        "dsr": deflated_sharpe(best, sharpes),
        "pbo": None if overfitting is None else overfitting.pbo,
        "prob_oos_loss": None if overfitting is None else overfitting.prob_oos_loss,
    }
