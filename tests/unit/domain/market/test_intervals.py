from datetime import UTC, datetime

import pytest

from domain.market.intervals import (
    INTERVALS,
    add_intervals,
    ceil_open_time,
    floor_open_time,
    interval_minutes,
    open_times,
)
from shared.streams import StreamSpec, parse_streams


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def test_minute_intervals_align_to_epoch_multiples() -> None:
    assert floor_open_time(ms("2024-01-01T10:07:59"), "5") == ms("2024-01-01T10:05:00")
    assert ceil_open_time(ms("2024-01-01T10:05:00"), "5") == ms("2024-01-01T10:05:00")
    assert ceil_open_time(ms("2024-01-01T10:05:01"), "5") == ms("2024-01-01T10:10:00")


def test_weeks_open_on_monday() -> None:
    # 2024-01-03 was a Wednesday; its week opened on Monday 2024-01-01.
    assert floor_open_time(ms("2024-01-03T12:00:00"), "W") == ms("2024-01-01T00:00:00")
    assert add_intervals(ms("2024-01-01T00:00:00"), "W", 1) == ms("2024-01-08T00:00:00")


def test_months_follow_the_calendar() -> None:
    assert floor_open_time(ms("2024-02-29T23:59:59"), "M") == ms("2024-02-01T00:00:00")
    assert add_intervals(ms("2024-01-01T00:00:00"), "M", 2) == ms("2024-03-01T00:00:00")
    assert add_intervals(ms("2024-01-01T00:00:00"), "M", -1) == ms("2023-12-01T00:00:00")
    assert open_times(ms("2023-11-15T00:00:00"), ms("2024-02-01T00:00:00"), "M").tolist() == [
        ms("2023-12-01T00:00:00"),
        ms("2024-01-01T00:00:00"),
        ms("2024-02-01T00:00:00"),
    ]


@pytest.mark.parametrize("interval", INTERVALS)
def test_floor_of_an_open_time_is_itself(interval: str) -> None:
    t = floor_open_time(ms("2025-06-17T13:45:00"), interval)
    assert floor_open_time(t, interval) == t
    assert floor_open_time(add_intervals(t, interval, 1) - 1, interval) == t


def test_bars_per_year_follow_the_simulation_docs() -> None:
    assert 525_600 / interval_minutes("60") == 8760
    assert 525_600 / interval_minutes("D") == 365
    assert 525_600 / interval_minutes("M") == 12


def test_stream_specs_parse_and_reject_bad_items() -> None:
    assert parse_streams("linear:BTCUSDT:1, spot:ETHUSDT:D") == [
        StreamSpec("linear", "BTCUSDT", "1"),
        StreamSpec("spot", "ETHUSDT", "D"),
    ]
    assert parse_streams("") == []
    for bad in ("linear:BTCUSDT", "futures:BTCUSDT:1", "linear:BTCUSDT:2", "linear:btcusdt:1"):
        with pytest.raises(ValueError, match="INGEST_STREAMS"):
            parse_streams(bad)
