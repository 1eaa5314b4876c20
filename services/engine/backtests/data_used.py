"""What a backtest ran on (`data`) and the sentences its client should read (`warnings`).

Pure: the loaded open times in, JSON-able values out; runs in the pool beside the simulation.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from shared.intervals import add_intervals, interval_ms, open_times
from shared.timestamps import iso_utc


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
    missing = np.setdiff1d(open_times(first, last, interval), traded, assume_unique=True)
    if missing.size:
        warnings.append(
            f"{missing.size} bars missing inside the range in {_runs(missing, interval)}"
            f" gap(s), the first from {iso_utc(int(missing[0]))}"
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


def _runs(missing: npt.NDArray[np.int64], interval: str) -> int:
    """Runs of consecutive open times among `missing` (ascending)."""
    if interval == "M":
        following = np.array([add_intervals(int(t), interval, 1) for t in missing[:-1]])
    else:
        following = missing[:-1] + interval_ms(interval)
    return 1 + int(np.count_nonzero(missing[1:] != following))
