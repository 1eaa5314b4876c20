"""Columns of candles in integer units (ticks, lots), and their exact aggregation."""

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Ints = NDArray[np.int64]
Bools = NDArray[np.bool_]


@dataclass(frozen=True)
class Bars:
    """One row per candle; prices in ticks, volume in lots, turnover in its own units.

    `exists` is False for rows with no trades at all (gaps, before the listing): such rows
    are no candles and are skipped by every aggregate.
    """

    open_time: Ints
    open: Ints
    high: Ints
    low: Ints
    close: Ints
    volume: Ints
    turnover: Ints
    exists: Bools

    def __len__(self) -> int:
        return len(self.open_time)

    def select(self, rows: NDArray[np.int64] | NDArray[np.bool_] | slice) -> "Bars":
        return Bars(
            self.open_time[rows],
            self.open[rows],
            self.high[rows],
            self.low[rows],
            self.close[rows],
            self.volume[rows],
            self.turnover[rows],
            self.exists[rows],
        )

    def existing(self) -> "Bars":
        return self.select(self.exists)

    @staticmethod
    def empty() -> "Bars":
        ints = np.empty(0, np.int64)
        return Bars(ints, ints, ints, ints, ints, ints, ints, np.empty(0, np.bool_))

    @staticmethod
    def concat(parts: "list[Bars]") -> "Bars":
        if not parts:
            return Bars.empty()
        if len(parts) == 1:
            return parts[0]
        return Bars(*(np.concatenate([getattr(p, name) for p in parts]) for name in _FIELDS))


_FIELDS = ("open_time", "open", "high", "low", "close", "volume", "turnover", "exists")


def group(bars: Bars, starts: Ints, open_times: Ints) -> Bars:
    """Aggregate rows [starts[j], starts[j+1]) (the last group runs to the end) into one candle
    each, opening at open_times[j]: first open, max high, min low, last close, summed volumes;
    only existing rows count, and a group without any is marked as not existing."""
    n_groups = len(starts)
    if n_groups == 0:
        return Bars.empty()
    ends = np.append(starts[1:], len(bars)).astype(np.int64)
    present = np.flatnonzero(bars.exists)
    lo = np.searchsorted(present, starts, side="left")
    hi = np.searchsorted(present, ends, side="left")
    exists = hi > lo
    first = present[np.minimum(lo, len(present) - 1)] if len(present) else np.zeros(n_groups, int)
    last = present[np.maximum(hi - 1, 0)] if len(present) else np.zeros(n_groups, int)
    big = np.iinfo(np.int64).max
    if len(bars) == 0:
        zeros = np.zeros(n_groups, np.int64)
        return Bars(open_times, zeros, zeros, zeros, zeros, zeros, zeros, exists)
    # reduceat needs valid start indices; empty groups are masked out by `exists` anyway.
    safe_starts = np.minimum(starts, len(bars) - 1)
    high = np.maximum.reduceat(np.where(bars.exists, bars.high, -big), safe_starts)
    low = np.minimum.reduceat(np.where(bars.exists, bars.low, big), safe_starts)
    volume = np.add.reduceat(np.where(bars.exists, bars.volume, 0), safe_starts)
    turnover = np.add.reduceat(np.where(bars.exists, bars.turnover, 0), safe_starts)
    empty_group = ends <= starts
    volume = np.where(empty_group, 0, volume)
    turnover = np.where(empty_group, 0, turnover)
    return Bars(
        open_times.astype(np.int64),
        np.where(exists, bars.open[first], 0),
        np.where(exists, high, 0),
        np.where(exists, low, 0),
        np.where(exists, bars.close[last], 0),
        np.where(exists, volume, 0),
        np.where(exists, turnover, 0),
        exists,
    )
