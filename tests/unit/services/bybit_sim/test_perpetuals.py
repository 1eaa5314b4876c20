"""The sim's perpetual data: mark prices, funding history, risk tiers, and their consistency."""

from decimal import Decimal

import numpy as np
import pytest

from domain.market.intervals import DAY_MS, MINUTE_MS, add_intervals
from services.bybit_sim.candles import CandleBook
from services.bybit_sim.funding import funding_page, funding_rates
from services.bybit_sim.instruments import make_instrument
from services.bybit_sim.risk_limits import risk_tiers
from services.bybit_sim.settings import SimSettings
from shared.timestamps import parse_epoch_ms

T0 = parse_epoch_ms("2024-01-01T00:00Z")
NOW = parse_epoch_ms("2024-06-15T12:34:56.789Z")
SYMBOLS = ("linear:BTCUSDT", "inverse:BTCUSD", "spot:BTCUSDT", "linear:ABCUSDT")


def books(**overrides: object) -> tuple[CandleBook, CandleBook]:
    settings = SimSettings(symbols=SYMBOLS, **overrides)  # type: ignore[arg-type]
    return CandleBook(settings), CandleBook(settings, mark_price=True)


@pytest.mark.parametrize("interval", ["5", "60", "240", "D", "W"])
def test_mark_candles_of_every_interval_aggregate_the_mark_minutes(interval: str) -> None:
    _, mark = books()
    start, end = T0 + 30 * DAY_MS, T0 + 44 * DAY_MS - 1
    coarse = mark.closed_candles("linear", "BTCUSDT", interval, start, end, NOW)
    minutes = mark.closed_candles("linear", "BTCUSDT", "1", start, T0 + 60 * DAY_MS, NOW)
    assert len(coarse) > 0
    for candle in coarse:
        upto = add_intervals(int(candle["open_time"]), interval, 1)
        inside = minutes[
            (minutes["open_time"] >= candle["open_time"]) & (minutes["open_time"] < upto)
        ]
        assert candle["open"] == inside["open"][0] and candle["close"] == inside["close"][-1]
        assert candle["high"] == inside["high"].max() and candle["low"] == inside["low"].min()


def test_mark_price_is_a_small_deterministic_basis_off_the_last_price() -> None:
    last, mark = books()
    start, end = T0 + 10 * DAY_MS, T0 + 20 * DAY_MS
    prices = last.closed_candles("linear", "BTCUSDT", "1", start, end, NOW)
    marks = mark.closed_candles("linear", "BTCUSDT", "1", start, end, NOW)
    again = books()[1].closed_candles("linear", "BTCUSDT", "1", start, end, NOW)
    assert np.array_equal(marks, again)
    assert np.array_equal(marks["open_time"], prices["open_time"])
    basis = marks["close"] / prices["close"] - 1
    assert np.abs(basis).max() < 0.001 and basis.std() > 0.0001
    assert (basis > 0).any() and (basis < 0).any()
    assert (marks["high"] >= np.maximum(marks["open"], marks["close"])).all()
    assert (marks["low"] <= np.minimum(marks["open"], marks["close"])).all()
    # Consecutive minutes join: a close is the next open, as for the last price.
    assert np.array_equal(marks["close"][:-1], marks["open"][1:])
    # Spot has no mark price of its own.
    assert np.array_equal(
        mark.closed_candles("spot", "BTCUSDT", "1", start, end, NOW),
        last.closed_candles("spot", "BTCUSDT", "1", start, end, NOW),
    )


def test_mark_candles_keep_the_gaps_of_the_candles() -> None:
    _, mark = books(gaps=("linear:BTCUSDT:2024-02-01T10:00Z/2024-02-01T11:00Z",))
    day = parse_epoch_ms("2024-02-01T00:00Z")
    marks = mark.closed_candles("linear", "BTCUSDT", "1", day, day + DAY_MS - 1, NOW)
    assert len(marks) == 1440 - 60


def test_funding_times_follow_the_interval_and_rates_look_real() -> None:
    inst = make_instrument("linear", "BTCUSDT", T0)
    assert inst.funding_interval == 480
    times = funding_page(inst, T0, NOW, None, None, 200)
    assert len(times) == 200 and (np.diff(times) == -480 * MINUTE_MS).all()
    assert times[0] == NOW // (8 * 3_600_000) * 8 * 3_600_000
    everything = funding_page(inst, T0, NOW, T0, NOW, 200)
    year = np.concatenate(
        [
            funding_page(inst, T0, NOW, T0, end, 200)
            for end in range(NOW, T0, -200 * 480 * MINUTE_MS)
        ]
    )
    assert len(everything) == 200
    rates = funding_rates(1, inst, year)
    assert np.array_equal(rates, funding_rates(1, inst, year))
    assert 0.00005 < np.median(rates) < 0.00015
    assert 0.02 < (rates < 0).mean() < 0.3
    assert (np.abs(rates) >= 0.0015).sum() >= 3 and np.abs(rates).max() <= 0.005
    assert not np.array_equal(rates, funding_rates(2, inst, year))


def test_funding_pages_backwards_without_gap_or_overlap() -> None:
    inst = make_instrument("linear", "BTCUSDT", T0)
    start, end = T0 + 3 * DAY_MS + 1, NOW
    walked: list[int] = []
    cursor = end
    while True:
        page = funding_page(inst, T0, NOW, start, cursor, 200).tolist()
        walked += page
        if len(page) < 200:
            break
        cursor = page[-1] - 1
    step = 480 * MINUTE_MS
    expected = list(range(NOW // step * step, start - 1, -step))
    assert walked == expected and walked[-1] >= start


def test_some_symbols_fund_every_hour_or_four_hours() -> None:
    intervals = {make_instrument("linear", f"C{i}USDT", T0).funding_interval for i in range(60)}
    assert intervals == {60, 240, 480}
    hourly = next(
        make_instrument("linear", f"C{i}USDT", T0)
        for i in range(60)
        if make_instrument("linear", f"C{i}USDT", T0).funding_interval == 60
    )
    times = funding_page(hourly, T0, NOW, None, None, 10)
    assert (np.diff(times) == -MINUTE_MS * 60).all()
    # An hourly funding's typical rate is an eighth of an eight-hourly one.
    assert (
        np.median(np.abs(funding_rates(1, hourly, funding_page(hourly, T0, NOW, None, None, 200))))
        < 0.00004
    )


@pytest.mark.parametrize("symbol", ["linear:BTCUSDT", "inverse:BTCUSD", "linear:ABCUSDT"])
def test_risk_tiers_agree_with_the_leverage_filter(symbol: str) -> None:
    category, name = symbol.split(":")
    inst = make_instrument(category, name, T0)
    tiers = risk_tiers(inst)
    info = inst.info()
    leverage_filter = info["leverageFilter"]
    assert isinstance(leverage_filter, dict)
    assert Decimal(leverage_filter["maxLeverage"]) == Decimal(str(tiers[0]["maxLeverage"]))
    assert [t["isLowestRisk"] for t in tiers] == [1] + [0] * (len(tiers) - 1)
    values = [Decimal(str(t["riskLimitValue"])) for t in tiers]
    mms = [Decimal(str(t["maintenanceMargin"])) for t in tiers]
    ims = [Decimal(str(t["initialMargin"])) for t in tiers]
    assert values == sorted(values) and mms == sorted(mms)
    assert all(im > mm for im, mm in zip(ims, mms, strict=True))
    for tier, im in zip(tiers, ims, strict=True):
        assert Decimal(str(tier["maxLeverage"])) == (1 / im).quantize(Decimal("0.01"), "ROUND_DOWN")
    # The deduction keeps the maintenance margin continuous at each tier boundary.
    for k in range(1, len(tiers)):
        below = values[k - 1] * mms[k - 1] - Decimal(str(tiers[k - 1]["mmDeduction"] or 0))
        above = values[k - 1] * mms[k] - Decimal(str(tiers[k]["mmDeduction"]))
        assert below == above
