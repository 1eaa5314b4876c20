"""The candle loaders (packed blocks, migration 0024) against a plain SELECT of the rows, after
every kind of write: stores, upserts, UPDATE, DELETE, TRUNCATE, concurrent writers."""

import asyncio
import io
import json
import shutil
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import asyncpg
import numpy as np
import pytest

from domain.market.candles import PRICE_FIELDS, Candles
from domain.market.intervals import from_epoch_ms, interval_ms
from services.ingest.kline_store import MARK_PRICE_KLINES, Series, store
from shared import candle_copy, market_data
from shared.db import DbConnection, ensure_database, with_database
from shared.migrate import MIGRATIONS_DIR, apply_migrations
from tests.support.candle_rows import (
    TABLE_FIELDS,
    assert_same_candles,
    rows_in_range,
    rows_warmed,
    series_rows,
)
from tests.support.servers import Servers

pytestmark = pytest.mark.integration

T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
DAY = 86_400_000


def walk(start: int, bars: int, interval: str, seed: int) -> Candles:
    """Seeded candles every `interval`, with a few bars left out (gaps)."""
    rng = np.random.default_rng(seed)
    times = start + np.arange(bars, dtype=np.int64) * interval_ms(interval)
    kept = rng.random(bars) > 0.02
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, bars)))
    columns = (close * 0.999, close * 1.01, close * 0.98, close, rng.random(bars), close * 7)
    return Candles(times, *columns).select(kept)


async def assert_every_series_loads_as_stored(conn: DbConnection) -> None:
    """Each stored series, whole and in ranges across block edges, equals its rows."""
    prices: tuple[tuple[str, market_data.Price], ...] = (
        ("klines", "last"),
        ("mark_price_klines", "mark"),
    )
    for table, price in prices:
        series = await conn.fetch(f"SELECT DISTINCT category, symbol, interval FROM {table}")
        for category, symbol, interval in series:
            rows = await series_rows(conn, table, category, symbol, interval)
            first, last = rows[0]["open_time"], rows[-1]["open_time"]
            span = last - first
            for start, end in (
                (first - timedelta(days=400), last + timedelta(days=400)),
                (first + span * 0.3, first + span * 0.7),
                (first + span * 0.5, first + span * 0.5 + timedelta(microseconds=1)),
            ):
                loaded = await market_data.load_candles(
                    conn, category, symbol, interval, start, end, price
                )
                expected = await rows_in_range(conn, table, category, symbol, interval, start, end)
                assert_same_candles(loaded, expected)
                if price == "last":
                    await assert_span_counts_the_rows(conn, category, symbol, interval, start, end)
    await assert_coverage_counts_the_rows(conn)


async def assert_span_counts_the_rows(
    conn: DbConnection, category: str, symbol: str, interval: str, start: datetime, end: datetime
) -> None:
    """`candle_span`, from the blocks' lengths and the rows at the range's ends, equals a
    count over the rows."""
    expected = await conn.fetchrow(
        """SELECT count(*), max(open_time) FROM klines WHERE category = $1 AND symbol = $2
           AND interval = $3 AND open_time BETWEEN $4 AND $5""",
        category,
        symbol,
        interval,
        start,
        end,
    )
    assert expected is not None
    span = await market_data.candle_span(conn, category, symbol, interval, start, end)
    assert span == tuple(expected), (category, symbol, interval, start, end)


async def assert_coverage_counts_the_rows(conn: DbConnection) -> None:
    """`GET /symbols`' coverage, read from the blocks, equals a GROUP BY over the rows."""

    def spans(table: str) -> str:
        return f"""SELECT category, symbol, interval, min(open_time), max(open_time), count(*)
                   FROM {table} GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"""

    coverage, total = await market_data.coverage(conn, limit=1000, offset=0)
    keys = ("category", "symbol", "interval", "first_open_time", "last_open_time", "count")
    assert [tuple(s[k] for k in keys) for s in coverage] == [
        tuple(r) for r in await conn.fetch(spans("klines"))
    ]
    assert total == len(coverage)
    marks = {(r[0], r[1], r[2]): tuple(r[3:]) for r in await conn.fetch(spans("mark_price_klines"))}
    for s in coverage:
        mark = s["mark_price"]
        if isinstance(mark, str):  # a connection without the pool's jsonb codec
            mark = json.loads(mark)
        shown = None if mark is None else tuple(mark[k] for k in keys[3:])
        expected = marks.get((s["category"], s["symbol"], s["interval"]))
        if expected is not None:
            expected = (expected[0].isoformat(), expected[1].isoformat(), expected[2])
        assert shown == expected


async def test_loaded_candles_equal_the_stored_rows_in_any_range(pool: asyncpg.Pool) -> None:
    series = [
        (Series("linear", "BTCUSDT", "1"), walk(T0 + 7 * 60_000, 5_000, "1", 1)),
        (Series("linear", "ETHUSDT", "60"), walk(T0, 3_000, "60", 2)),
        (Series("spot", "BTCUSDT", "1"), walk(T0 - DAY, 4_000, "1", 3)),
        (Series("inverse", "BTCUSD", "D"), walk(T0, 1_600, "D", 4)),
    ]
    async with pool.acquire() as conn:
        for one, candles in series:
            await store(conn, one, candles, [], [])
        await store(conn, series[0][0], walk(T0, 3_000, "1", 5), [], [], None, MARK_PRICE_KLINES)
        rng = np.random.default_rng(11)
        for one, candles in series:
            times = candles.open_time
            for _ in range(12):
                # Ranges from before the first candle to after the last, edges off the bars
                # (by whole minutes and by microseconds) as often as on them.
                a, b = np.sort(rng.integers(times[0] - DAY, times[-1] + DAY, 2))
                start = from_epoch_ms(int(a)) + timedelta(microseconds=int(rng.integers(0, 2)))
                end = from_epoch_ms(int(b))
                loaded = await market_data.load_candles(
                    conn, one.category, one.symbol, one.interval, start, end
                )
                expected = await rows_in_range(
                    conn, "klines", one.category, one.symbol, one.interval, start, end
                )
                assert_same_candles(loaded, expected)
                await assert_span_counts_the_rows(
                    conn, one.category, one.symbol, one.interval, start, end
                )
        await assert_every_series_loads_as_stored(conn)


async def test_warmed_loads_of_many_symbols_equal_the_stored_rows(pool: asyncpg.Pool) -> None:
    symbols = ["AAAUSDT", "BBBUSDT", "CCCUSDT"]
    async with pool.acquire() as conn:
        for i, symbol in enumerate(symbols[:2]):
            await store(conn, Series("linear", symbol, "60"), walk(T0, 4_000, "60", 20 + i), [], [])
        for start_bar, end_bar, warmup in (
            (1_000, 3_000, 300),  # warm-up inside the stored range
            (100, 3_000, 300),  # fewer stored bars before the start than asked
            (2_000, 9_000, 0),  # no warm-up; the end past the last candle
            (5_000, 6_000, 50),  # a range after every candle: the warm-up alone
            (3_000, 2_000, 20),  # an end before the start
        ):
            start = from_epoch_ms(T0 + start_bar * 3_600_000)
            end = from_epoch_ms(T0 + end_bar * 3_600_000)
            loaded = await market_data.load_many_candles_warmed(
                conn, "linear", symbols, "60", start, end, warmup
            )
            assert list(loaded) == symbols
            for symbol in symbols:
                expected = await rows_warmed(conn, "linear", symbol, "60", start, end, warmup)
                assert_same_candles(loaded[symbol], expected)
                one = await market_data.load_candles_warmed(
                    conn, "linear", symbol, "60", start, end, warmup
                )
                assert_same_candles(one, expected)
        assert len(loaded["CCCUSDT"]) == 0


async def test_blocks_follow_upserts_updates_deletes_and_truncates(pool: asyncpg.Pool) -> None:
    btc, eth = Series("linear", "BTCUSDT", "1"), Series("linear", "ETHUSDT", "1")
    async with pool.acquire() as conn:
        await store(conn, btc, walk(T0, 3_000, "1", 30), [], [])
        await store(conn, eth, walk(T0, 3_000, "1", 31), [], [])
        await store(conn, btc, walk(T0 + 1_000 * 60_000, 3_000, "1", 32), [], [])  # upserted
        await store(conn, btc, walk(T0, 2_000, "1", 40), [], [], None, MARK_PRICE_KLINES)
        await assert_every_series_loads_as_stored(conn)
        await conn.execute(
            "UPDATE klines SET close = close * 1.5 WHERE symbol = 'BTCUSDT' AND open_time < $1",
            from_epoch_ms(T0 + 1_500 * 60_000),
        )
        await conn.execute(
            "UPDATE mark_price_klines SET open_time = open_time + interval '10 days'"
            " WHERE open_time >= $1",
            from_epoch_ms(T0 + 1_900 * 60_000),
        )
        await conn.execute(
            "DELETE FROM klines WHERE symbol = 'ETHUSDT' AND open_time BETWEEN $1 AND $2",
            from_epoch_ms(T0 + 100 * 60_000),
            from_epoch_ms(T0 + 1_600 * 60_000),
        )
        await assert_every_series_loads_as_stored(conn)
        await conn.execute("DELETE FROM klines WHERE symbol = 'ETHUSDT'")
        eth_blocks = "SELECT count(*) FROM kline_blocks WHERE symbol = 'ETHUSDT'"
        assert await conn.fetchval(eth_blocks) == 0
        await conn.execute("TRUNCATE klines")
        assert await conn.fetchval("SELECT count(*) FROM kline_blocks") == 0
        await assert_every_series_loads_as_stored(conn)  # the mark prices are still there


async def test_concurrent_writers_of_one_block_both_land_in_it(pool: asyncpg.Pool) -> None:
    """The second writer's block is rewritten after the first commits, so it holds both."""
    btc = Series("linear", "BTCUSDT", "1")
    first, second = walk(T0, 600, "1", 50), walk(T0 + 600 * 60_000, 600, "1", 51)
    async with pool.acquire() as one, pool.acquire() as other:
        one_writes = one.transaction()
        await one_writes.start()
        await store(one, btc, first, [], [])

        async def write_second() -> None:
            # A plain COPY: no upsert to fall back on should its block be written wrong.
            rows = [
                ("linear", "BTCUSDT", "1", from_epoch_ms(int(t)), *values)
                for t, *values in zip(
                    second.open_time.tolist(),
                    *(getattr(second, f).tolist() for f in PRICE_FIELDS),
                    strict=True,
                )
            ]
            async with other.transaction():
                await other.copy_records_to_table("klines", records=rows)

        waiting = asyncio.create_task(write_second())
        while (
            await pool.fetchval(
                "SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1",
                other.get_server_pid(),
            )
            != "Lock"
        ):
            assert not waiting.done()
            await asyncio.sleep(0.05)
        await one_writes.commit()
        await waiting
        await assert_every_series_loads_as_stored(one)
        assert await one.fetchval("SELECT count(*) FROM klines") == len(first) + len(second)


async def test_the_migration_packs_the_candles_stored_before_it(
    servers: Servers, tmp_path: Path
) -> None:
    earlier = tmp_path / "migrations"
    earlier.mkdir()
    for migration in MIGRATIONS_DIR.glob("*.sql"):
        if migration.name < "0024_candle_blocks.sql":
            shutil.copy(migration, earlier)
    name = f"bt_blocks_{uuid.uuid4().hex[:10]}"
    url = with_database(servers.database_url, name)
    await ensure_database(url)
    conn = await asyncpg.connect(url)
    try:
        await apply_migrations(conn, earlier)
        for table, fields in TABLE_FIELDS.items():
            for symbol, seed in (("BTCUSDT", 60), ("ETHUSDT", 61)):
                candles = walk(T0, 3_000, "1", seed)
                await conn.copy_to_table(
                    table,
                    source=io.BytesIO(candle_copy.encode(candles, ("linear", symbol, "1"), fields)),
                    columns=["category", "symbol", "interval", "open_time", *fields],
                    format="binary",
                )
        assert "0024_candle_blocks" in await apply_migrations(conn)
        await assert_every_series_loads_as_stored(conn)
    finally:
        await conn.close()
        admin = await asyncpg.connect(servers.database_url)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
