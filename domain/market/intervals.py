"""Bybit's kline intervals and the calendar arithmetic of candle open times (epoch ms, UTC)."""

from datetime import UTC, datetime
from typing import Literal, get_args

import numpy as np
import numpy.typing as npt

Category = Literal["spot", "linear", "inverse"]
Interval = Literal["1", "3", "5", "15", "30", "60", "120", "240", "360", "720", "D", "W", "M"]

CATEGORIES: tuple[str, ...] = get_args(Category)
INTERVALS: tuple[str, ...] = get_args(Interval)

MINUTE_MS = 60_000
DAY_MS = 1440 * MINUTE_MS
WEEK_MS = 7 * DAY_MS
# 1970-01-01 was a Thursday; Bybit's weekly candles open on Mondays, four days later.
_FIRST_MONDAY_MS = 4 * DAY_MS


def interval_ms(interval: str) -> int:
    """Length of one candle; for "M" the shortest month, so only use it as a lower bound."""
    if interval == "D":
        return DAY_MS
    if interval == "W":
        return WEEK_MS
    if interval == "M":
        return 28 * DAY_MS
    return int(interval) * MINUTE_MS


def interval_minutes(interval: str) -> float:
    """Nominal minutes per candle, as docs/simulation.md counts bars per year (M: 365 days / 12)."""
    if interval == "M":
        return 525_600 / 12
    return interval_ms(interval) / MINUTE_MS


def _month_index(t_ms: int) -> int:
    d = datetime.fromtimestamp(t_ms / 1000, UTC)
    return d.year * 12 + d.month - 1


def _month_start_ms(index: int) -> int:
    year, month0 = divmod(index, 12)
    return int(datetime(year, month0 + 1, 1, tzinfo=UTC).timestamp() * 1000)


def floor_open_time(t_ms: int, interval: str) -> int:
    """Open time of the candle that contains t_ms."""
    if interval == "M":
        return _month_start_ms(_month_index(t_ms))
    if interval == "W":
        return (t_ms - _FIRST_MONDAY_MS) // WEEK_MS * WEEK_MS + _FIRST_MONDAY_MS
    step = interval_ms(interval)
    return t_ms // step * step


def ceil_open_time(t_ms: int, interval: str) -> int:
    """First open time at or after t_ms."""
    floor = floor_open_time(t_ms, interval)
    return floor if floor == t_ms else add_intervals(floor, interval, 1)


def add_intervals(open_ms: int, interval: str, n: int) -> int:
    """The open time n candles after open_ms (which must be aligned)."""
    if interval == "M":
        return _month_start_ms(_month_index(open_ms) + n)
    return open_ms + n * interval_ms(interval)


def close_time(open_ms: int, interval: str) -> int:
    """The first millisecond after the candle (its `end` + 1 ms in Bybit's terms)."""
    return add_intervals(open_ms, interval, 1)


def open_times(start_ms: int, end_ms: int, interval: str) -> npt.NDArray[np.int64]:
    """Every aligned open time in [start_ms, end_ms]."""
    first = ceil_open_time(start_ms, interval)
    if interval != "M":
        return np.arange(first, end_ms + 1, interval_ms(interval), dtype=np.int64)
    times = []
    t = first
    while t <= end_ms:
        times.append(t)
        t = add_intervals(t, interval, 1)
    return np.array(times, dtype=np.int64)
