"""One time parser: requests, the backfill command line and the simulator's settings."""

from datetime import UTC, datetime

import pytest

from domain.market.intervals import iso_utc
from services.bybit_sim.settings import SimSettings
from shared.timestamps import parse_epoch_ms, parse_utc

JAN_1 = 1_704_067_200_000  # 2024-01-01T00:00:00Z


@pytest.mark.parametrize(
    "value",
    [
        JAN_1,
        float(JAN_1),
        str(JAN_1),
        "2024-01-01T00:00:00Z",
        "2024-01-01T00:00Z",
        "2024-01-01T00:00:00",  # naive means UTC
        "2024-01-01T02:00:00+02:00",
    ],
)
def test_iso_and_epoch_ms_name_the_same_instant(value: object) -> None:
    assert parse_epoch_ms(value) == JAN_1
    assert parse_utc(value) == datetime(2024, 1, 1, tzinfo=UTC)
    assert iso_utc(parse_epoch_ms(value)) == "2024-01-01T00:00:00Z"


@pytest.mark.parametrize("value", ["yesterday", True, "", -1, 10**20])
def test_what_is_no_time_is_refused(value: object) -> None:
    with pytest.raises(ValueError, match="not an ISO-8601 time or epoch milliseconds"):
        parse_epoch_ms(value)


def test_the_simulator_reads_its_times_with_the_shared_parser() -> None:
    settings = SimSettings(
        history_start="2024-01-01T00:00Z",
        clock_start=str(JAN_1 + 60_000),
        gaps="linear:BTCUSDT:2024-01-01T00:00:00+02:00/2024-01-01T01:00Z",
    )
    assert settings.history_start == JAN_1
    assert settings.clock_start == JAN_1 + 60_000
    assert settings.gap_ranges() == [("linear", "BTCUSDT", JAN_1 - 7_200_000, JAN_1 + 3_600_000)]
    with pytest.raises(ValueError, match="not an ISO-8601 time"):
        SimSettings(history_start="soon")
