"""Turning Bybit kline pages into clean candles, and planning pages over a range.

Nothing trusts a page to be complete or ordered: rows are sorted, de-duplicated, clipped to
the requested range, and the candle still in progress is dropped.
"""

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from domain.market.candles import Candles
from domain.market.intervals import add_intervals, floor_open_time, open_times

PAGE_LIMIT = 1000


def parse_kline_rows(
    rows: Sequence[Sequence[str]],
    start_ms: int,
    end_ms: int,
    interval: str,
    server_ms: int,
    width: int = 7,
) -> Candles:
    """Closed candles of `rows` (Bybit's string lists) with open time in [start_ms, end_ms].

    Mark-price rows have width 5 (no volume, no turnover): those come back as zeros."""
    if not rows:
        return Candles.empty()
    table = np.array(rows, dtype=np.float64)
    if table.ndim != 2 or table.shape[1] < width:
        raise ValueError(f"kline rows must have {width} fields, got shape {table.shape}")
    if width < 7:
        table = np.hstack([table[:, :width], np.zeros((len(table), 7 - width))])
    opens = table[:, 0].astype(np.int64)
    in_progress_open = floor_open_time(server_ms, interval)
    keep = (opens >= start_ms) & (opens <= end_ms) & (opens < in_progress_open)
    opens, table = opens[keep], table[keep]
    order = np.argsort(opens, kind="stable")
    opens, table = opens[order], table[order]
    unique = np.ones(len(opens), dtype=bool)
    unique[1:] = opens[1:] != opens[:-1]
    opens, table = opens[unique], table[unique]
    return Candles(opens, *(np.ascontiguousarray(table[:, i]) for i in range(1, 7)))


def page_windows(start_ms: int, end_ms: int, interval: str) -> list[tuple[int, int]]:
    """Inclusive [first, last] open-time windows of up to PAGE_LIMIT candles covering the range."""
    windows = []
    first = floor_open_time(start_ms, interval)
    if first < start_ms:
        first = add_intervals(first, interval, 1)
    while first <= end_ms:
        last = min(add_intervals(first, interval, PAGE_LIMIT - 1), end_ms)
        windows.append((first, last))
        first = add_intervals(first, interval, PAGE_LIMIT)
    return windows


def missing_ranges(
    present: npt.NDArray[np.int64], start_ms: int, end_ms: int, interval: str
) -> list[tuple[int, int]]:
    """Inclusive [first, last] runs of open times in [start_ms, end_ms] absent from `present`."""
    expected = open_times(start_ms, end_ms, interval)
    if len(expected) == 0:
        return []
    missing_mask = ~np.isin(expected, present)
    if not missing_mask.any():
        return []
    # Split the missing positions wherever they stop being consecutive.
    positions = np.flatnonzero(missing_mask)
    breaks = np.flatnonzero(np.diff(positions) != 1) + 1
    return [(int(expected[run[0]]), int(expected[run[-1]])) for run in np.split(positions, breaks)]


def gaps_in_fetched(
    candles: Candles, first_ms: int, last_ms: int, interval: str, server_ms: int
) -> list[tuple[int, int]]:
    """Missing candles among those fetched for [first_ms, last_ms] that should have closed by
    server_ms; the candle in progress and later ones are not missing, only not there yet."""
    newest_closed = add_intervals(floor_open_time(server_ms, interval), interval, -1)
    return missing_ranges(candles.open_time, first_ms, min(last_ms, newest_closed), interval)
