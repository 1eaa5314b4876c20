"""Writing candles, gaps and raw pages: COPY into a staging table, one upsert per batch.

Candles and mark-price candles follow the same rules, each in its own pair of tables.
"""

import io
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg

from domain.market.candles import PRICE_FIELDS, Candles
from domain.market.intervals import add_intervals, from_epoch_ms
from shared import candle_copy
from shared.db import DbConnection


@dataclass(frozen=True)
class Series:
    category: str
    symbol: str
    interval: str


@dataclass(frozen=True)
class CandleTable:
    """Where one kind of candle is stored: its table, its gaps and its price fields."""

    feed: str  # as named in the audit and in a backfill's `include`
    name: str
    gaps: str
    fields: tuple[str, ...]


KLINES = CandleTable("kline", "klines", "kline_gaps", PRICE_FIELDS)
MARK_PRICE_KLINES = CandleTable(
    "mark_price", "mark_price_klines", "mark_price_kline_gaps", candle_copy.MARK_PRICE_FIELDS
)


@dataclass(frozen=True)
class RawPage:
    """A REST page or WebSocket message exactly as received, for the audit trail."""

    source: str  # "rest" or "ws"
    request: str
    body: str
    received_at: datetime
    feed: str = KLINES.feed  # or mark_price, funding, instrument, risk_limit


async def _ensure_staging(conn: DbConnection, table: CandleTable) -> str:
    staging = f"{table.name}_staging"
    columns = ", ".join(f"{field} float8" for field in table.fields)
    await conn.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {staging} (open_time timestamptz, {columns})"
    )
    await conn.execute(f"TRUNCATE {staging}")
    return staging


async def upsert_candles(
    conn: DbConnection, series: Series, candles: Candles, table: CandleTable = KLINES
) -> int:
    """Insert or refresh the candles; call inside a transaction. Returns rows in the batch.

    New candles, the usual case, are copied straight into the table (about twice as cheap);
    if any of them is stored already, that copy is undone and the batch is upserted."""
    if not len(candles):
        return 0
    texts = (series.category, series.symbol, series.interval)
    try:
        async with conn.transaction():  # a savepoint inside the caller's transaction
            await conn.copy_to_table(
                table.name,
                source=io.BytesIO(candle_copy.encode(candles, texts, table.fields)),
                columns=["category", "symbol", "interval", "open_time", *table.fields],
                format="binary",
            )
        return len(candles)
    except asyncpg.UniqueViolationError:
        pass
    staging = await _ensure_staging(conn, table)
    payload = io.BytesIO(candle_copy.encode(candles, fields=table.fields))
    await conn.copy_to_table(staging, source=payload, format="binary")
    fields = ", ".join(table.fields)
    stored = ", ".join(f"{table.name}.{field}" for field in table.fields)
    excluded = ", ".join(f"EXCLUDED.{field}" for field in table.fields)
    await conn.execute(
        f"""INSERT INTO {table.name} (category, symbol, interval, open_time, {fields})
            SELECT $1, $2, $3, open_time, {fields} FROM {staging}
            ON CONFLICT (category, symbol, interval, open_time) DO UPDATE SET
                ({fields}) = ROW({excluded})
            WHERE ({stored}) IS DISTINCT FROM ({excluded})""",
        series.category,
        series.symbol,
        series.interval,
    )
    return len(candles)


async def record_gaps(
    conn: DbConnection, series: Series, gaps: list[tuple[int, int]], table: CandleTable = KLINES
) -> None:
    """Record ranges with no candle, merging with a recorded gap that ends just before."""
    for first, last in gaps:
        merged = await conn.execute(
            f"""UPDATE {table.gaps} SET gap_end = greatest(gap_end, $5)
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
                f"""INSERT INTO {table.gaps} (category, symbol, interval, gap_start, gap_end)
                    VALUES ($1, $2, $3, $4, $5)
                    ON CONFLICT (category, symbol, interval, gap_start)
                    DO UPDATE SET gap_end = greatest({table.gaps}.gap_end, EXCLUDED.gap_end)""",
                series.category,
                series.symbol,
                series.interval,
                from_epoch_ms(first),
                from_epoch_ms(last),
            )


_CANDLE_FEEDS = (KLINES.feed, MARK_PRICE_KLINES.feed)


async def record_raw_pages(
    conn: DbConnection, series: Series, pages: list[RawPage], backfill_id: UUID | None
) -> None:
    """Audit rows of the pages; only candle feeds have an interval."""
    await conn.copy_records_to_table(
        "bybit_kline_audit",
        records=[
            (
                p.source,
                p.feed,
                series.category,
                series.symbol,
                series.interval if p.feed in _CANDLE_FEEDS else None,
                p.request,
                p.body,
                backfill_id,
                p.received_at,
            )
            for p in pages
        ],
        columns=[
            "source",
            "feed",
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
    table: CandleTable = KLINES,
) -> int:
    """Candles, the gaps found around them and the raw pages they came from, in one transaction."""
    async with conn.transaction():
        rows = await upsert_candles(conn, series, candles, table)
        await record_gaps(conn, series, gaps, table)
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
