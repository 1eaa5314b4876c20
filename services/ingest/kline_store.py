"""Writing candles, gaps and raw pages: COPY into a staging table, one upsert per batch."""

import io
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg

from shared import candle_copy
from shared.candles import Candles
from shared.db import DbConnection
from shared.intervals import add_intervals
from shared.timestamps import from_epoch_ms


@dataclass(frozen=True)
class Series:
    category: str
    symbol: str
    interval: str


@dataclass(frozen=True)
class RawPage:
    """A REST page or WebSocket message exactly as received, for the audit trail."""

    source: str  # "rest" or "ws"
    request: str
    body: str
    received_at: datetime


async def _ensure_staging(conn: DbConnection) -> None:
    await conn.execute(
        """CREATE TEMP TABLE IF NOT EXISTS kline_staging (
               open_time timestamptz, open float8, high float8, low float8, close float8,
               volume float8, turnover float8
           )"""
    )
    await conn.execute("TRUNCATE kline_staging")


async def upsert_candles(conn: DbConnection, series: Series, candles: Candles) -> int:
    """Insert or refresh the candles; call inside a transaction. Returns rows in the batch.

    New candles, the usual case, are copied straight into `klines` (about twice as cheap);
    if any of them is stored already, that copy is undone and the batch is upserted."""
    if not len(candles):
        return 0
    texts = (series.category, series.symbol, series.interval)
    try:
        async with conn.transaction():  # a savepoint inside the caller's transaction
            await conn.copy_to_table(
                "klines",
                source=io.BytesIO(candle_copy.encode(candles, texts)),
                columns=["category", "symbol", "interval", *candle_copy.COLUMNS],
                format="binary",
            )
        return len(candles)
    except asyncpg.UniqueViolationError:
        pass
    await _ensure_staging(conn)
    payload = io.BytesIO(candle_copy.encode(candles))
    await conn.copy_to_table("kline_staging", source=payload, format="binary")
    await conn.execute(
        """INSERT INTO klines (category, symbol, interval, open_time,
                               open, high, low, close, volume, turnover)
           SELECT $1, $2, $3, open_time, open, high, low, close, volume, turnover
           FROM kline_staging
           ON CONFLICT (category, symbol, interval, open_time) DO UPDATE SET
               open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low,
               close = EXCLUDED.close, volume = EXCLUDED.volume, turnover = EXCLUDED.turnover
           WHERE (klines.open, klines.high, klines.low, klines.close, klines.volume,
                  klines.turnover) IS DISTINCT FROM
                 (EXCLUDED.open, EXCLUDED.high, EXCLUDED.low, EXCLUDED.close, EXCLUDED.volume,
                  EXCLUDED.turnover)""",
        series.category,
        series.symbol,
        series.interval,
    )
    return len(candles)


async def record_gaps(conn: DbConnection, series: Series, gaps: list[tuple[int, int]]) -> None:
    """Record ranges with no candle, merging with a recorded gap that ends just before."""
    for first, last in gaps:
        merged = await conn.execute(
            """UPDATE kline_gaps SET gap_end = greatest(gap_end, $5)
               WHERE category = $1 AND symbol = $2 AND interval = $3
                 AND gap_end >= $6 AND gap_start <= $4""",
            series.category,
            series.symbol,
            series.interval,
            from_epoch_ms(first),
            from_epoch_ms(last),
            from_epoch_ms(add_intervals(first, series.interval, -1)),
        )
        if merged == "UPDATE 0":
            await conn.execute(
                """INSERT INTO kline_gaps (category, symbol, interval, gap_start, gap_end)
                   VALUES ($1, $2, $3, $4, $5)
                   ON CONFLICT (category, symbol, interval, gap_start)
                   DO UPDATE SET gap_end = greatest(kline_gaps.gap_end, EXCLUDED.gap_end)""",
                series.category,
                series.symbol,
                series.interval,
                from_epoch_ms(first),
                from_epoch_ms(last),
            )


async def record_raw_pages(
    conn: DbConnection, series: Series, pages: list[RawPage], backfill_id: UUID | None
) -> None:
    await conn.copy_records_to_table(
        "bybit_kline_audit",
        records=[
            (
                p.source,
                series.category,
                series.symbol,
                series.interval,
                p.request,
                p.body,
                backfill_id,
                p.received_at,
            )
            for p in pages
        ],
        columns=[
            "source",
            "category",
            "symbol",
            "interval",
            "request",
            "body",
            "backfill_id",
            "received_at",
        ],
    )


async def store(
    conn: DbConnection,
    series: Series,
    candles: Candles,
    gaps: list[tuple[int, int]],
    raw_pages: list[RawPage],
    backfill_id: UUID | None = None,
) -> int:
    """Candles, the gaps found around them and the raw pages they came from, in one transaction."""
    async with conn.transaction():
        rows = await upsert_candles(conn, series, candles)
        await record_gaps(conn, series, gaps)
        await record_raw_pages(conn, series, raw_pages, backfill_id)
    return rows


async def last_open_time(pool: asyncpg.Pool, series: Series) -> int | None:
    """Open time (ms) of the newest stored candle of the series."""
    value = await pool.fetchval(
        """SELECT (extract(epoch FROM max(open_time)) * 1000)::bigint FROM klines
           WHERE category = $1 AND symbol = $2 AND interval = $3""",
        series.category,
        series.symbol,
        series.interval,
    )
    return int(value) if value is not None else None
