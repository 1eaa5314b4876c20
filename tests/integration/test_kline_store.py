from dataclasses import replace
from datetime import UTC, datetime

import asyncpg
import numpy as np
import pytest

from domain.market.candles import Candles
from domain.market.intervals import from_epoch_ms
from services.ingest.kline_store import MARK_PRICE_KLINES, RawPage, Series, last_open_time, store
from shared.market_data import load_candles

pytestmark = pytest.mark.integration

MIN = 60_000
T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
SERIES = Series("linear", "BTCUSDT", "1")


def make_candles(start: int, n: int, price: float = 42_000.5) -> Candles:
    times = start + MIN * np.arange(n, dtype=np.int64)
    base = price + np.arange(n, dtype=np.float64) * 0.1
    columns = (base, base + 7.3, base - 2.9, base + 1.1, base / 1e4, base * 3.3)
    return Candles(times, *(c.astype(np.float64) for c in columns))


async def test_candles_round_trip_exactly_through_binary_copy(pool: asyncpg.Pool) -> None:
    candles = make_candles(T0, 2500)
    async with pool.acquire() as conn:
        assert await store(conn, SERIES, candles, [], []) == 2500
    rows = await pool.fetch(
        """SELECT open_time, open, high, low, close, volume, turnover FROM klines
           WHERE symbol = 'BTCUSDT' ORDER BY open_time"""
    )
    assert [r["open_time"] for r in rows] == [from_epoch_ms(int(t)) for t in candles.open_time]
    for field in ("open", "high", "low", "close", "volume", "turnover"):
        assert np.array_equal(np.array([r[field] for r in rows]), getattr(candles, field)), field
    assert await last_open_time(pool, SERIES) == T0 + 2499 * MIN


async def test_storing_again_neither_duplicates_nor_keeps_stale_values(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await store(conn, SERIES, make_candles(T0, 10), [], [])
        await store(conn, SERIES, make_candles(T0 + 5 * MIN, 10, price=50_000.0), [], [])
    assert await pool.fetchval("SELECT count(*) FROM klines") == 15
    assert (
        await pool.fetchval(
            "SELECT open FROM klines WHERE open_time = $1", from_epoch_ms(T0 + 5 * MIN)
        )
        == 50_000.0
    )


async def test_gaps_are_recorded_and_adjacent_ones_merged(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await store(conn, SERIES, Candles.empty(), [(T0, T0 + 4 * MIN)], [])
        await store(conn, SERIES, Candles.empty(), [(T0 + 5 * MIN, T0 + 9 * MIN)], [])
        await store(conn, SERIES, Candles.empty(), [(T0 + 20 * MIN, T0 + 20 * MIN)], [])
    gaps = await pool.fetch("SELECT gap_start, gap_end FROM kline_gaps ORDER BY gap_start")
    assert [(g["gap_start"], g["gap_end"]) for g in gaps] == [
        (from_epoch_ms(T0), from_epoch_ms(T0 + 9 * MIN)),
        (from_epoch_ms(T0 + 20 * MIN), from_epoch_ms(T0 + 20 * MIN)),
    ]


async def test_raw_pages_are_kept_as_received(pool: asyncpg.Pool) -> None:
    body = '{"retCode":0,"result":{"list":[]}}'
    page = RawPage("rest", "/v5/market/kline?symbol=BTCUSDT", body, datetime.now(UTC))
    async with pool.acquire() as conn:
        await store(conn, SERIES, Candles.empty(), [], [page])
    row = await pool.fetchrow("SELECT source, request, body FROM bybit_kline_audit")
    assert row is not None
    assert dict(row) == {"source": "rest", "request": page.request, "body": body}


async def test_candles_load_back_exactly_through_binary_copy(pool: asyncpg.Pool) -> None:
    candles = make_candles(T0, 3000)
    async with pool.acquire() as conn:
        await store(conn, SERIES, candles, [], [])
        loaded = await load_candles(
            conn, "linear", "BTCUSDT", "1", from_epoch_ms(T0 + MIN), from_epoch_ms(T0 + 2000 * MIN)
        )
    assert np.array_equal(loaded.open_time, candles.open_time[1:2001])
    for field in ("open", "high", "low", "close", "volume", "turnover"):
        assert np.array_equal(getattr(loaded, field), getattr(candles, field)[1:2001]), field


async def test_mark_price_candles_follow_the_same_rules_in_their_own_tables(
    pool: asyncpg.Pool,
) -> None:
    candles = make_candles(T0, 10)
    page = RawPage("rest", "/v5/market/mark-price-kline?symbol=BTCUSDT", "{}", datetime.now(UTC))
    async with pool.acquire() as conn:
        await store(conn, SERIES, candles, [(T0 - 5 * MIN, T0 - MIN)], [], None, MARK_PRICE_KLINES)
        again = make_candles(T0 + 5 * MIN, 10, price=50_000.0)
        page = replace(page, feed=MARK_PRICE_KLINES.feed)
        await store(conn, SERIES, again, [], [page], None, MARK_PRICE_KLINES)
        loaded = await load_candles(
            conn, "linear", "BTCUSDT", "1", from_epoch_ms(T0), from_epoch_ms(T0 + 20 * MIN), "mark"
        )
    assert await pool.fetchval("SELECT count(*) FROM klines") == 0
    assert await pool.fetchval("SELECT count(*) FROM kline_gaps") == 0
    assert await pool.fetchval("SELECT count(*) FROM mark_price_kline_gaps") == 1
    assert np.array_equal(loaded.open_time, T0 + MIN * np.arange(15))
    assert loaded.open[5] == 50_000.0 and loaded.open[4] == candles.open[4]
    assert not loaded.volume.any() and not loaded.turnover.any()
    audit = await pool.fetchrow("SELECT feed, interval FROM bybit_kline_audit")
    assert audit is not None and dict(audit) == {"feed": "mark_price", "interval": "1"}
