"""A backtest's `data` and `warnings`: what it ran on and what its client should know."""

import numpy as np

from domain.market.intervals import iso_utc
from services.engine.backtests.data_used import data_used

T0 = 1_704_067_200_000
HOUR = 3_600_000


def _hours(first: int, count: int) -> np.ndarray:
    return T0 + HOUR * np.arange(first, first + count, dtype=np.int64)


def test_a_fully_covered_range_warns_of_nothing() -> None:
    times = _hours(0, 160)  # 60 warm-up bars, then hours 60..159
    report = data_used(times, 60, 60, T0 + 60 * HOUR, T0 + 159 * HOUR, "60", 3)
    assert report.warnings == []
    assert report.data == {
        "first": iso_utc(T0 + 60 * HOUR),
        "last": iso_utc(T0 + 159 * HOUR),
        "bars": 100,
        "warmup_bars": 60,
    }


def test_an_unaligned_start_and_end_are_not_gaps() -> None:
    times = _hours(1, 10)
    report = data_used(times, 0, 0, T0 + HOUR // 2, T0 + 10 * HOUR + HOUR // 2, "60", 1)
    assert report.warnings == []


def test_each_shortfall_has_its_sentence() -> None:
    times = np.concatenate([_hours(10, 20), _hours(35, 5), _hours(41, 9)])
    report = data_used(times, 0, 90, T0, T0 + 100 * HOUR, "60", 0)
    starts, ends, gaps, warmup, trades = report.warnings
    assert starts == (
        f"the data starts at {iso_utc(T0 + 10 * HOUR)}, after the requested start {iso_utc(T0)}"
    )
    assert ends.startswith(f"the data ends at {iso_utc(T0 + 49 * HOUR)}, before")
    assert gaps == (
        f"6 bars missing inside the range in 2 gap(s), the first from {iso_utc(T0 + 30 * HOUR)}"
    )
    assert warmup == "0 warm-up bars before the start, fewer than the 90 asked"
    assert trades.startswith("no trades")
    assert report.data["bars"] == 34


def test_monthly_bars_count_calendar_months() -> None:
    months = np.array([1_704_067_200_000, 1_706_745_600_000, 1_711_929_600_000], np.int64)
    report = data_used(months, 0, 0, months[0], months[-1], "M", 1)
    # 2024-01, 2024-02, then 2024-04: March is missing.
    assert report.warnings == [
        "1 bars missing inside the range in 1 gap(s), the first from 2024-03-01T00:00:00Z"
    ]
