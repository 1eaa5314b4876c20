"""Parsing Bybit's perpetual answers: fundings, instrument limits, risk tiers, mark-price rows."""

import numpy as np

from domain.market.candles import Candles
from services.ingest.kline_pages import parse_kline_rows
from services.ingest.perpetual_pages import (
    FUNDING_PAGE_LIMIT,
    funding_pages_at_most,
    parse_funding_rows,
    parse_instrument,
    parse_risk_tiers,
)
from shared import candle_copy

HOUR = 3_600_000
T0 = 1_735_689_600_000


def funding(t: int, rate: str) -> dict[str, str]:
    return {"symbol": "BTCUSDT", "fundingRate": rate, "fundingRateTimestamp": str(t)}


def test_fundings_are_sorted_deduplicated_and_clipped() -> None:
    rows = [
        funding(T0 + 16 * HOUR, "0.0001"),
        funding(T0, "-0.00002"),
        funding(T0 + 8 * HOUR, "0.003"),
        funding(T0 + 8 * HOUR, "0.003"),
        funding(T0 - 8 * HOUR, "0.0001"),
    ]
    parsed = parse_funding_rows(rows, T0, T0 + 16 * HOUR - 1)
    assert parsed.time.tolist() == [T0, T0 + 8 * HOUR]
    assert parsed.rate.tolist() == [-0.00002, 0.003]
    assert len(parse_funding_rows([], T0, T0 + HOUR)) == 0


def test_funding_pages_are_an_upper_bound_that_is_exact_on_whole_intervals() -> None:
    # 30 days at 8 h: 90 fundings, one page; at 1 h: 720, four pages (the last not full).
    assert funding_pages_at_most(T0, T0 + 30 * 24 * HOUR - 1, 480) == 1
    assert funding_pages_at_most(T0, T0 + 30 * 24 * HOUR - 1, 60) == 720 // FUNDING_PAGE_LIMIT + 1
    assert funding_pages_at_most(T0, T0 + 30 * 24 * HOUR - 1, None) == 4
    # Exactly 200 fundings: the walk needs one more, empty, page to know it is done.
    assert funding_pages_at_most(T0, T0 + 199 * HOUR, 60) == 2


def test_instrument_limits_and_tiers() -> None:
    entry = {
        "symbol": "BTCUSDT",
        "fundingInterval": 240,
        "leverageFilter": {"minLeverage": "1", "maxLeverage": "50.00", "leverageStep": "0.01"},
    }
    limits = parse_instrument(entry)
    assert (limits.funding_interval, limits.max_leverage, limits.leverage_step) == (240, 50.0, 0.01)
    assert parse_instrument({"symbol": "X"}).funding_interval is None
    keys = "id symbol riskLimitValue maintenanceMargin initialMargin isLowestRisk maxLeverage"
    keys += " mmDeduction"
    values = [
        (2, "BTCUSDT", "4000000", "0.01", "0.015", 0, "66.66", "10000"),
        (1, "BTCUSDT", "2000000", "0.005", "0.01", 1, "100.00", ""),
        (1, "ETHUSDT", "1", "0.01", "0.02", 1, "50", ""),
    ]
    tiers = parse_risk_tiers(
        [dict(zip(keys.split(), row, strict=True)) for row in values], "BTCUSDT"
    )
    assert [t.tier_id for t in tiers] == [1, 2]
    assert tiers[0].is_lowest_risk and tiers[0].mm_deduction == 0.0
    assert (tiers[1].maintenance_margin, tiers[1].max_leverage) == (0.01, 66.66)


def test_mark_price_rows_have_no_volume_and_copy_both_ways() -> None:
    rows = [[str(T0 + HOUR), "2", "3", "1", "2.5"], [str(T0), "1.5", "2.1", "1.4", "2"]]
    marks = parse_kline_rows(rows, T0, T0 + HOUR, "60", T0 + 3 * HOUR, width=5)
    assert marks.open_time.tolist() == [T0, T0 + HOUR]
    assert marks.close.tolist() == [2.0, 2.5] and not marks.volume.any()
    fields = candle_copy.MARK_PRICE_FIELDS
    payload = candle_copy.encode(marks, fields=fields)
    assert len(payload) < len(candle_copy.encode(marks))
    decoded = candle_copy.decode(payload, fields)
    for name in ("open_time", *fields, "volume", "turnover"):
        assert np.array_equal(getattr(decoded, name), getattr(marks, name)), name
    assert isinstance(decoded, Candles)
