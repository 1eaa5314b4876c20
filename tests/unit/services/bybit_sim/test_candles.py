"""CandleBook: determinism, exact aggregation, range semantics, gaps, history and strings."""

from pathlib import Path

import numpy as np
import pytest

from domain.market.intervals import DAY_MS, MINUTE_MS, add_intervals, floor_open_time
from services.bybit_sim.candles import CANDLE_DTYPE, CandleBook
from services.bybit_sim.settings import SimSettings
from shared.timestamps import parse_epoch_ms

HOUR_MS = 60 * MINUTE_MS
T0 = parse_epoch_ms("2024-01-01T00:00Z")
NOW = parse_epoch_ms("2024-06-15T12:34:56.789Z")
FIELDS = CANDLE_DTYPE.names[1:]  # type: ignore[index]


def book(**overrides: object) -> CandleBook:
    return CandleBook(SimSettings(**overrides))  # type: ignore[arg-type]


def aggregate(minutes: np.ndarray) -> tuple[float, ...]:
    return (
        minutes["open"][0],
        minutes["high"].max(),
        minutes["low"].min(),
        minutes["close"][-1],
    )


def rows_as_array(rows: list[list[str]]) -> np.ndarray:
    out = np.empty(len(rows), CANDLE_DTYPE)
    out["open_time"] = [int(r[0]) for r in rows]
    for i, name in enumerate(FIELDS, start=1):
        out[name] = [float(r[i]) for r in rows]
    return out


def test_same_seed_same_candles_other_seed_or_symbol_other_candles() -> None:
    start, end = T0 + 40 * DAY_MS, T0 + 41 * DAY_MS
    a = book(seed=7).closed_candles("linear", "BTCUSDT", "5", start, end, NOW)
    b = book(seed=7).closed_candles("linear", "BTCUSDT", "5", start, end, NOW)
    c = book(seed=8).closed_candles("linear", "BTCUSDT", "5", start, end, NOW)
    spot = book(seed=7).closed_candles("spot", "BTCUSDT", "5", start, end, NOW)
    assert len(a) == 289
    assert np.array_equal(a, b)
    assert not np.array_equal(a["close"], c["close"])
    assert not np.array_equal(a["close"], spot["close"])


def test_candles_do_not_depend_on_the_order_they_are_asked_in() -> None:
    later = T0 + 100 * DAY_MS
    fresh = book().closed_candles("linear", "ETHUSDT", "1", later, later + HOUR_MS, NOW)
    warmed = book()
    warmed.closed_candles("linear", "ETHUSDT", "D", T0, NOW, NOW)
    again = warmed.closed_candles("linear", "ETHUSDT", "1", later, later + HOUR_MS, NOW)
    assert np.array_equal(fresh, again)


@pytest.mark.parametrize("interval", ["3", "5", "15", "30", "60", "120", "240", "360", "720", "D"])
def test_every_interval_is_the_exact_aggregate_of_its_minutes(interval: str) -> None:
    b = book()
    start = T0 + 10 * DAY_MS
    candles = b.closed_candles("linear", "BTCUSDT", interval, start, start + 2 * DAY_MS, NOW)
    minutes = b.closed_candles("linear", "BTCUSDT", "1", start, start + 4 * DAY_MS, NOW)
    assert len(candles) >= 3
    for candle in candles[:3]:
        close = add_intervals(int(candle["open_time"]), interval, 1)
        inside = minutes[
            (minutes["open_time"] >= candle["open_time"]) & (minutes["open_time"] < close)
        ]
        assert len(inside) == (close - candle["open_time"]) // MINUTE_MS
        assert (candle["open"], candle["high"], candle["low"], candle["close"]) == aggregate(inside)
        assert candle["volume"] == pytest.approx(inside["volume"].sum(), rel=1e-12)
        assert candle["turnover"] == pytest.approx(inside["turnover"].sum(), rel=1e-12)


def test_weeks_open_on_monday_and_months_on_the_first_and_both_aggregate_days() -> None:
    b = book()
    weeks = b.closed_candles("inverse", "BTCUSD", "W", T0, NOW, NOW)
    months = b.closed_candles("inverse", "BTCUSD", "M", T0, NOW, NOW)
    days = b.closed_candles("inverse", "BTCUSD", "D", T0, NOW, NOW)
    assert all(((t // DAY_MS) + 4) % 7 == 1 for t in weeks["open_time"].tolist())  # Mondays
    month_opens = [parse_epoch_ms(f"2024-{m:02d}-01T00:00Z") for m in range(1, 6)]
    assert months["open_time"].tolist() == month_opens  # June is still in progress
    feb = days[(days["open_time"] >= month_opens[1]) & (days["open_time"] < month_opens[2])]
    assert len(feb) == 29
    assert tuple(months[1][["open", "high", "low", "close"]]) == aggregate(feb)
    # 2024-01-01 is a Monday: the first week is whole and equals its 7 days.
    assert weeks["open_time"][0] == T0
    assert weeks["high"][0] == days["high"][:7].max()


def test_bounds_are_inclusive_and_pages_newest_first() -> None:
    b = book()
    t = T0 + 3 * DAY_MS + 7 * HOUR_MS
    one = b.kline_rows("linear", "BTCUSDT", "60", t, t, 200, NOW)
    assert [r[0] for r in one] == [str(t)]
    assert b.kline_rows("linear", "BTCUSDT", "60", t + 1, t + HOUR_MS - 1, 200, NOW) == []
    page = b.kline_rows("linear", "BTCUSDT", "60", t, t + 5 * HOUR_MS, 200, NOW)
    assert [int(r[0]) for r in page] == [t + i * HOUR_MS for i in range(5, -1, -1)]


def test_limit_semantics_start_only_end_only_and_both() -> None:
    b = book()
    t = T0 + 5 * DAY_MS
    forward = b.kline_rows("spot", "BTCUSDT", "1", t, None, 10, NOW)
    assert [int(r[0]) for r in forward][::-1] == [t + i * MINUTE_MS for i in range(10)]
    backward = b.kline_rows("spot", "BTCUSDT", "1", None, t, 10, NOW)
    assert [int(r[0]) for r in backward] == [t - i * MINUTE_MS for i in range(10)]
    both = b.kline_rows("spot", "BTCUSDT", "1", t - DAY_MS, t, 10, NOW)
    assert both == backward
    assert len(b.kline_rows("spot", "BTCUSDT", "1", t - DAY_MS, t, 1000, NOW)) == 1000
    latest = b.kline_rows("spot", "BTCUSDT", "1", None, None, 200, NOW)
    assert len(latest) == 200
    assert int(latest[0][0]) == floor_open_time(NOW, "1")  # the candle in progress


def test_pages_agree_with_closed_candles() -> None:
    b = book()
    start, end = T0 + 20 * DAY_MS, T0 + 20 * DAY_MS + 2999 * MINUTE_MS
    expected = b.closed_candles("linear", "ETHUSDT", "1", start, end, NOW)
    rows: list[list[str]] = []
    cursor = start
    while cursor <= end:
        page = b.kline_rows("linear", "ETHUSDT", "1", cursor, None, 1000, NOW)
        rows += page[::-1]
        cursor = int(page[0][0]) + MINUTE_MS
    got = rows_as_array([r for r in rows if int(r[0]) <= end])
    assert len(expected) == 3000
    assert np.array_equal(got, expected)


def test_strings_round_trip_and_look_like_bybit() -> None:
    b = book()
    for category, symbol in [("linear", "BTCUSDT"), ("inverse", "BTCUSD"), ("linear", "ETHUSDT")]:
        for interval in ("1", "60", "D"):
            rows = b.kline_rows(category, symbol, interval, None, None, 300, NOW)
            as_floats = rows_as_array(rows)
            start, end = int(rows[-1][0]), int(rows[1][0])
            stored = b.closed_candles(category, symbol, interval, start, end, NOW)
            assert np.array_equal(as_floats[1:][::-1], stored)
            for row in rows:
                assert all(isinstance(v, str) for v in row)
                assert not any("e" in v or v.endswith(".0") for v in row)
                assert float(row[2]) >= max(float(row[1]), float(row[4]))
                assert float(row[3]) <= min(float(row[1]), float(row[4]))


def test_prices_sit_on_the_tick_and_inverse_volume_is_in_usd() -> None:
    b = book()
    btc = b.closed_candles("linear", "BTCUSDT", "1", T0, T0 + DAY_MS, NOW)
    assert np.array_equal(np.round(btc["close"] * 10), btc["close"] * 10)
    inverse = b.closed_candles("inverse", "BTCUSD", "1", T0, T0 + DAY_MS, NOW)
    assert np.array_equal(inverse["volume"], np.round(inverse["volume"]))  # whole contracts
    implied_price = inverse["volume"] / inverse["turnover"]
    assert np.all(
        (implied_price > inverse["low"] * 0.999) & (implied_price < inverse["high"] * 1.001)
    )
    linear_price = btc["turnover"] / btc["volume"]
    assert np.all((linear_price > btc["low"] * 0.999) & (linear_price < btc["high"] * 1.001))


def test_history_start_nothing_before_it() -> None:
    start = parse_epoch_ms("2024-03-10T06:30Z")
    b = book(history_start=start)
    minutes = b.closed_candles("linear", "BTCUSDT", "1", 0, start + HOUR_MS, NOW)
    assert minutes["open_time"][0] == start
    assert len(minutes) == 61
    assert b.kline_rows("linear", "BTCUSDT", "1", None, start - 1, 200, NOW) == []
    # The hour the listing falls in exists, made of its listed minutes only.
    first_page = b.kline_rows("linear", "BTCUSDT", "60", 0, None, 3, NOW)
    six = start - 30 * MINUTE_MS
    assert [int(r[0]) for r in first_page][::-1] == [six, six + HOUR_MS, six + 2 * HOUR_MS]
    assert float(first_page[-1][1]) == minutes["open"][0]
    day = b.closed_candles("linear", "BTCUSDT", "D", 0, start, NOW)
    assert day["open_time"].tolist() == [floor_open_time(start, "D")]
    assert day["open"][0] == minutes["open"][0]
    assert b.instrument("linear", "BTCUSDT").launch_ms == start  # type: ignore[union-attr]


def test_gaps_remove_minutes_and_shrink_or_remove_aggregates() -> None:
    gap = "linear:BTCUSDT:2024-02-01T10:30Z/2024-02-01T12:00Z"
    b, plain = book(gaps=gap), book()
    g0 = parse_epoch_ms("2024-02-01T10:30Z")
    minutes = b.closed_candles("linear", "BTCUSDT", "1", g0 - HOUR_MS, g0 + 3 * HOUR_MS, NOW)
    assert not np.any((minutes["open_time"] >= g0) & (minutes["open_time"] < g0 + 90 * MINUTE_MS))
    assert len(minutes) == 241 - 90
    hours = b.closed_candles("linear", "BTCUSDT", "60", g0 - HOUR_MS, g0 + 3 * HOUR_MS, NOW)
    assert parse_epoch_ms("2024-02-01T11:00Z") not in hours["open_time"].tolist()
    ten = hours[hours["open_time"] == parse_epoch_ms("2024-02-01T10:00Z")][0]
    first_half = minutes[(minutes["open_time"] >= ten["open_time"]) & (minutes["open_time"] < g0)]
    assert (ten["open"], ten["high"], ten["low"], ten["close"]) == aggregate(first_half)
    assert (
        ten["volume"]
        < plain.closed_candles(
            "linear", "BTCUSDT", "60", int(ten["open_time"]), int(ten["open_time"]), NOW
        )["volume"][0]
    )
    # Other symbols are untouched.
    eth = b.closed_candles("linear", "ETHUSDT", "1", g0, g0 + HOUR_MS, NOW)
    assert len(eth) == 61
    # A page that starts in the gap still holds `limit` candles, from after the gap.
    page = b.kline_rows("linear", "BTCUSDT", "1", g0, None, 5, NOW)
    assert [int(r[0]) for r in page][::-1] == [g0 + (90 + i) * MINUTE_MS for i in range(5)]


def test_candle_in_progress_moves_with_the_clock_and_ends_as_the_closed_one() -> None:
    b = book()
    opened = floor_open_time(NOW, "60")
    closes, volumes = [], []
    for seconds in range(0, 3600, 97):
        live = b.candle_in_progress("linear", "BTCUSDT", "60", opened + seconds * 1000)
        assert live["open_time"].tolist() == [opened]
        closes.append(float(live["close"][0]))
        volumes.append(float(live["volume"][0]))
    assert len(set(closes)) > 10
    assert volumes == sorted(volumes)
    almost = b.candle_in_progress("linear", "BTCUSDT", "60", opened + HOUR_MS - 1)
    final = b.closed_candles("linear", "BTCUSDT", "60", opened, opened, opened + HOUR_MS)
    assert len(final) == 1
    assert almost["open"][0] == final["open"][0]
    assert almost["close"][0] == pytest.approx(final["close"][0], abs=0.11)
    assert (
        b.closed_candles("linear", "BTCUSDT", "60", opened, opened, opened + HOUR_MS - 1).size == 0
    )


def test_ws_candles_confirm_each_closed_candle_then_the_live_one() -> None:
    b = book()
    since = floor_open_time(NOW, "5")
    later = NOW + 17 * MINUTE_MS
    pushes = b.ws_candles("linear", "BTCUSDT", "5", since, later)
    confirmed = [p for p in pushes if p["confirm"]]
    assert [p["start"] for p in confirmed] == [since + i * 5 * MINUTE_MS for i in range(4)]
    assert pushes[-1]["confirm"] is False
    assert pushes[-1]["start"] == floor_open_time(later, "5")
    assert all(p["end"] == p["start"] + 5 * MINUTE_MS - 1 for p in pushes)  # type: ignore[operator]
    stored = b.closed_candles("linear", "BTCUSDT", "5", since, since, later)
    assert float(confirmed[0]["close"]) == stored["close"][0]  # type: ignore[arg-type]


def test_data_file_replaces_the_walk(tmp_path: Path) -> None:
    t = parse_epoch_ms("2024-05-01T00:00Z")
    lines = ["open_time,open,high,low,close,volume"]
    for i in range(120):
        if i == 50:
            continue  # a missing minute
        price = 100 + i * 0.25
        lines.append(
            f"{t + i * MINUTE_MS},{price},{price + 0.5},{price - 0.25},{price + 0.25},{1.5 + i}"
        )
    path = tmp_path / "sol.csv"
    path.write_text("\n".join(lines))
    b = book(data_file=path, data_symbol="linear:SOLUSDT", symbols="linear:BTCUSDT")
    minutes = b.closed_candles("linear", "SOLUSDT", "1", 0, t + DAY_MS, NOW)
    assert len(minutes) == 119
    assert minutes["open"][0] == 100 and minutes["volume"][-1] == 1.5 + 119
    hour = b.closed_candles("linear", "SOLUSDT", "60", t, t, NOW)[0]
    assert (hour["open"], hour["high"], hour["low"], hour["close"]) == (
        100,
        100 + 59 * 0.25 + 0.5,
        99.75,
        100 + 59 * 0.25 + 0.25,
    )
    assert b.instrument("linear", "SOLUSDT").info()["priceFilter"] == {  # type: ignore[union-attr]
        "minPrice": "0.01",
        "maxPrice": "1999999.8",
        "tickSize": "0.01",
    }
    latest = b.kline_rows("linear", "SOLUSDT", "1", None, None, 5, NOW)  # the file's last ones
    assert [int(r[0]) for r in latest] == [t + (119 - i) * MINUTE_MS for i in range(5)]
    assert len(b.kline_rows("linear", "BTCUSDT", "1", None, None, 5, NOW)) == 5


def test_unknown_symbol_is_refused() -> None:
    with pytest.raises(KeyError):
        book().closed_candles("linear", "DOGEUSDT", "1", T0, T0 + DAY_MS, NOW)
    assert book().instrument("spot", "BTCUSD") is None
