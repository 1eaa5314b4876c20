"""Where a perpetual's market can act on a held position, indexed once per market so that the
kernel only marks the bars where it cannot (docs/simulation.md, "Perpetual futures"): the
bars booking a funding rate, and per block of `MARK_BLOCK` bars the lowest and highest mark
price (a liquidation level past them is reached at no bar of the block)."""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from domain.compiled_cache import njit

FloatColumn = npt.NDArray[np.float64]

MARK_BLOCK = 64


@dataclass(frozen=True)
class MarketEvents:
    # The bars booking a rate other than 0 (at their open or inside them), ascending: at no
    # other bar can funding change a position's cash.
    funding_bars: npt.NDArray[np.int64]
    # Per block, the lowest mark of its bars' opens and lows and the highest of their opens
    # and highs, missing (NaN) marks passed over (+inf and -inf: none). Bar i is in block
    # (i + block_offset) // MARK_BLOCK: a market cut from a longer one keeps its blocks,
    # whose bars outside the cut only widen their reach.
    mark_lowest: FloatColumn
    mark_highest: FloatColumn
    block_offset: int = 0

    def between(self, start: int, stop: int) -> "MarketEvents":
        """The events of bars [start, stop)."""
        bars = self.funding_bars
        first, last = np.searchsorted(bars, [start, stop])
        from_block = (start + self.block_offset) // MARK_BLOCK
        to_block = -(-(stop + self.block_offset) // MARK_BLOCK) if stop > start else from_block
        return MarketEvents(
            bars[first:last] - start,
            self.mark_lowest[from_block:to_block],
            self.mark_highest[from_block:to_block],
            (start + self.block_offset) % MARK_BLOCK,
        )


def market_events(
    mark_open: FloatColumn,
    mark_high: FloatColumn,
    mark_low: FloatColumn,
    funding_rate: FloatColumn,
    funding_inside: FloatColumn,
) -> MarketEvents:
    """The events of a market's columns (see `PerpMarket`)."""
    booked = (np.asarray(funding_rate) != 0.0) | (np.asarray(funding_inside) != 0.0)
    lowest, highest = _mark_reach(
        np.ascontiguousarray(mark_open, np.float64),
        np.ascontiguousarray(mark_high, np.float64),
        np.ascontiguousarray(mark_low, np.float64),
    )
    return MarketEvents(np.flatnonzero(booked).astype(np.int64), lowest, highest)


@njit(cache=True)
def _mark_reach(
    mark_open: FloatColumn, mark_high: FloatColumn, mark_low: FloatColumn
) -> tuple[FloatColumn, FloatColumn]:
    blocks = -(-mark_open.size // MARK_BLOCK)
    lowest = np.empty(blocks)
    highest = np.empty(blocks)
    for block in range(blocks):
        low = np.inf  # a comparison with NaN is false: a missing mark is passed over
        high = -np.inf
        for i in range(block * MARK_BLOCK, min((block + 1) * MARK_BLOCK, mark_open.size)):
            low = min(low, mark_open[i], mark_low[i])
            high = max(high, mark_open[i], mark_high[i])
        lowest[block] = low
        highest[block] = high
    return lowest, highest
