"""The slow obvious way to read stored candles, for checking the packed-block loaders: a plain
SELECT of the rows, each turned into Python values, then into arrays."""

from datetime import UTC, datetime, timedelta

import asyncpg
import numpy as np

from domain.market.candles import PRICE_FIELDS, Candles
from shared.db import DbExecutor

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
TABLE_FIELDS = {
    "klines": PRICE_FIELDS,
    "mark_price_klines": ("open", "high", "low", "close"),
}


def epoch_ms(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


async def series_rows(
    db: DbExecutor, table: str, category: str, symbol: str, interval: str
) -> list[asyncpg.Record]:
    """Every stored row of the series, oldest first."""
    return await db.fetch(
        f"""SELECT * FROM {table} WHERE category = $1 AND symbol = $2 AND interval = $3
            ORDER BY open_time""",
        category,
        symbol,
        interval,
    )


def candles_of(rows: list[asyncpg.Record], table: str) -> Candles:
    """The rows as candles; fields the table lacks as zeros."""
    columns = [
        [float(row[name]) if name in TABLE_FIELDS[table] else 0.0 for row in rows]
        for name in PRICE_FIELDS
    ]
    open_time = np.array([epoch_ms(row["open_time"]) for row in rows], np.int64)
    return Candles(open_time, *(np.array(column, np.float64) for column in columns))


async def rows_in_range(
    db: DbExecutor,
    table: str,
    category: str,
    symbol: str,
    interval: str,
    start: datetime,
    end: datetime,
) -> Candles:
    rows = await series_rows(db, table, category, symbol, interval)
    return candles_of([row for row in rows if start <= row["open_time"] <= end], table)


async def rows_warmed(
    db: DbExecutor,
    category: str,
    symbol: str,
    interval: str,
    start: datetime,
    end: datetime,
    warmup: int,
) -> Candles:
    """The rows of [first, end], where first is the earliest of the last `warmup` rows before
    `start` (`start` itself when there are none)."""
    rows = await series_rows(db, "klines", category, symbol, interval)
    before = [row["open_time"] for row in rows if row["open_time"] < start]
    first = before[len(before) - warmup] if 0 < warmup <= len(before) else start
    if 0 < len(before) < warmup:
        first = before[0]
    return candles_of([row for row in rows if first <= row["open_time"] <= end], "klines")


def assert_same_candles(loaded: Candles, expected: Candles) -> None:
    """Equal bit for bit, with the same dtypes."""
    for name in ("open_time", *PRICE_FIELDS):
        got, want = getattr(loaded, name), getattr(expected, name)
        assert got.dtype == want.dtype, name
        assert np.array_equal(got.view(np.int64), want.view(np.int64)), name
