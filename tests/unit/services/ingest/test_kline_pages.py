import itertools

import numpy as np

from services.ingest.kline_pages import (
    PAGE_LIMIT,
    gaps_in_fetched,
    missing_ranges,
    page_windows,
    parse_kline_rows,
)

MIN = 60_000
T0 = 1_700_000_040_000 - 1_700_000_040_000 % MIN


def row(t: int, close: str = "101.5") -> list[str]:
    return [str(t), "100", "102", "99.5", close, "1.25", "126.5"]


def test_rows_are_sorted_deduplicated_and_clipped_to_the_range() -> None:
    rows = [row(T0 + 3 * MIN), row(T0 + MIN), row(T0 + 2 * MIN), row(T0 + MIN), row(T0 - MIN)]
    candles = parse_kline_rows(rows, T0, T0 + 3 * MIN, "1", server_ms=T0 + 10 * MIN)
    assert candles.open_time.tolist() == [T0 + MIN, T0 + 2 * MIN, T0 + 3 * MIN]
    assert candles.close.tolist() == [101.5] * 3
    assert candles.turnover.tolist() == [126.5] * 3


def test_the_candle_in_progress_is_dropped() -> None:
    rows = [row(T0 + 2 * MIN), row(T0 + MIN), row(T0)]
    candles = parse_kline_rows(rows, T0, T0 + 2 * MIN, "1", server_ms=T0 + 2 * MIN + 30_000)
    assert candles.open_time.tolist() == [T0, T0 + MIN]


def test_windows_cover_the_range_in_pages_of_the_limit() -> None:
    windows = page_windows(T0 + 1, T0 + 2500 * MIN, "1")
    assert windows[0][0] == T0 + MIN  # the first open time at or after the start
    assert [(b - a) // MIN + 1 for a, b in windows] == [PAGE_LIMIT, PAGE_LIMIT, 500]
    assert all(b + MIN == c for (_, b), (c, _) in itertools.pairwise(windows))
    assert windows[-1][1] == T0 + 2500 * MIN


def test_missing_ranges_are_runs_of_absent_open_times() -> None:
    present = np.array([T0, T0 + MIN, T0 + 4 * MIN, T0 + 6 * MIN], dtype=np.int64)
    assert missing_ranges(present, T0, T0 + 7 * MIN, "1") == [
        (T0 + 2 * MIN, T0 + 3 * MIN),
        (T0 + 5 * MIN, T0 + 5 * MIN),
        (T0 + 7 * MIN, T0 + 7 * MIN),
    ]


def test_candles_not_yet_closed_are_not_gaps() -> None:
    candles = parse_kline_rows([row(T0)], T0, T0 + 9 * MIN, "1", server_ms=T0 + 3 * MIN + 5)
    # T0+1m and T0+2m should exist by now; T0+3m is in progress; later ones are the future.
    assert gaps_in_fetched(candles, T0, T0 + 9 * MIN, "1", T0 + 3 * MIN + 5) == [
        (T0 + MIN, T0 + 2 * MIN)
    ]
