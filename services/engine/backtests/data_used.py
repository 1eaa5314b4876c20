"""What a backtest ran on (`data`) and the sentences its client should read (`warnings`).

Pure: the loaded open times in, JSON-able values out; runs in the pool beside the simulation.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from domain.market.intervals import add_intervals, interval_ms, iso_utc, open_times


@dataclass(frozen=True)
class DataReport:
    data: dict[str, Any]  # {first, last, bars, warmup_bars}
    warnings: list[str]


def data_used(
    times: npt.NDArray[np.int64],
    warmup: int,
    warmup_asked: int,
    start_ms: int,
    end_ms: int,
    interval: str,
    num_trades: int,
) -> DataReport:
    """`times`: every loaded bar, the first `warmup` of them before `start_ms`."""
    traded = times[warmup:]
    first, last = int(traded[0]), int(traded[-1])
    warnings = []
    if add_intervals(first, interval, -1) >= start_ms:
        warnings.append(
            f"the data starts at {iso_utc(first)}, after the requested start {iso_utc(start_ms)}"
        )
    if add_intervals(last, interval, 1) <= end_ms:
        warnings.append(
            f"the data ends at {iso_utc(last)}, before the requested end {iso_utc(end_ms)}"
        )
    gaps = _gaps(traded, interval)
    if gaps is not None:
        missing, runs, first_missing = gaps
        warnings.append(
            f"{missing} bars missing inside the range in {runs} gap(s), the first"
            f" from {iso_utc(first_missing)}"
        )
    if warmup < warmup_asked:
        warnings.append(
            f"{warmup} warm-up bars before the start, fewer than the {warmup_asked} asked"
        )
    if num_trades == 0:
        warnings.append("no trades: the strategy never took a position in the range")
    data = {
        "first": iso_utc(first),
        "last": iso_utc(last),
        "bars": int(traded.size),
        "warmup_bars": warmup,
    }
    return DataReport(data, warnings)


def _gaps(times: npt.NDArray[np.int64], interval: str) -> tuple[int, int, int] | None:
    """(bars missing, gaps, the first missing open time) between the first and the last of
    `times` (aligned, ascending, unique), or None without a gap; one pass, no sort."""
    first = int(times[0])
    if interval != "M" and int(times[-1]) - first == (times.size - 1) * interval_ms(interval):
        return None  # as many bars as the span holds: none missing (the common case, O(1))
    if interval == "M":  # months differ in length; there are few of them
        grid = open_times(first, int(times[-1]), interval)
        slots = np.searchsorted(grid, times)
    else:
        slots = (times - first) // interval_ms(interval)
    skipped = np.diff(slots) - 1
    holes = np.flatnonzero(skipped)
    if not holes.size:
        return None
    slot = int(slots[holes[0]]) + 1
    first_missing = int(grid[slot]) if interval == "M" else first + slot * interval_ms(interval)
    return int(skipped.sum()), int(holes.size), first_missing
