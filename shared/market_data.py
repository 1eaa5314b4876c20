"""Reading stored candles and their coverage."""

import io
from datetime import datetime
from typing import Any

from shared import candle_copy
from shared.candles import Candles
from shared.db import DbConnection, DbExecutor


async def coverage(db: DbExecutor, *, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    """Per stored series: first and last open time, count, and the recorded gaps."""
    rows = await db.fetch(
        """WITH series AS (
               SELECT category, symbol, interval, min(open_time) AS first_open_time,
                      max(open_time) AS last_open_time, count(*) AS count
               FROM klines GROUP BY category, symbol, interval
           )
           SELECT s.*, coalesce(
                      (SELECT jsonb_agg(jsonb_build_object('start', g.gap_start, 'end', g.gap_end)
                                        ORDER BY g.gap_start)
                       FROM kline_gaps g
                       WHERE g.category = s.category AND g.symbol = s.symbol
                         AND g.interval = s.interval),
                      '[]'::jsonb) AS gaps,
                  count(*) OVER () AS total
           FROM series s ORDER BY category, symbol, interval LIMIT $1 OFFSET $2""",
        limit,
        offset,
    )
    total = rows[0]["total"] if rows else await _series_count(db)
    return [{k: v for k, v in dict(r).items() if k != "total"} for r in rows], int(total)


async def _series_count(db: DbExecutor) -> int:
    return int(
        await db.fetchval(
            "SELECT count(*) FROM (SELECT DISTINCT category, symbol, interval FROM klines) s"
        )
    )


async def candles_page(
    db: DbExecutor,
    category: str,
    symbol: str,
    interval: str,
    start: datetime,
    end: datetime,
    *,
    limit: int,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
    where = "category = $1 AND symbol = $2 AND interval = $3 AND open_time BETWEEN $4 AND $5"
    args = (category, symbol, interval, start, end)
    rows = await db.fetch(
        f"""SELECT open_time, open, high, low, close, volume, turnover FROM klines
            WHERE {where} ORDER BY open_time LIMIT $6 OFFSET $7""",
        *args,
        limit,
        offset,
    )
    total = await db.fetchval(f"SELECT count(*) FROM klines WHERE {where}", *args)
    return [dict(r) for r in rows], int(total)


_IN_RANGE = """FROM klines WHERE category = $1 AND symbol = $2 AND interval = $3
               AND open_time BETWEEN $4 AND $5"""


async def candle_count(
    db: DbExecutor, category: str, symbol: str, interval: str, start: datetime, end: datetime
) -> int:
    return int(
        await db.fetchval(f"SELECT count(*) {_IN_RANGE}", category, symbol, interval, start, end)
    )


async def has_candles(
    db: DbExecutor, category: str, symbol: str, interval: str, start: datetime, end: datetime
) -> bool:
    """At least one stored candle in the range (cheaper than counting them)."""
    return bool(
        await db.fetchval(
            f"SELECT EXISTS (SELECT 1 {_IN_RANGE})", category, symbol, interval, start, end
        )
    )


async def load_candles(
    conn: DbConnection, category: str, symbol: str, interval: str, start: datetime, end: datetime
) -> Candles:
    """The stored candles of [start, end], oldest first, straight into numpy (binary COPY)."""
    return await _copy_candles(
        conn,
        """WHERE category = $1 AND symbol = $2 AND interval = $3
             AND open_time BETWEEN $4 AND $5""",
        category,
        symbol,
        interval,
        start,
        end,
    )


async def bars_before(
    db: DbExecutor, category: str, symbol: str, interval: str, before: datetime, up_to: int
) -> int:
    """How many candles are stored before `before`, counting no further than `up_to`."""
    return int(
        await db.fetchval(
            """SELECT count(*) FROM (
                   SELECT 1 FROM klines
                   WHERE category = $1 AND symbol = $2 AND interval = $3 AND open_time < $4
                   ORDER BY open_time DESC LIMIT $5) AS warmup""",
            category,
            symbol,
            interval,
            before,
            up_to,
        )
    )


async def load_candles_warmed(
    conn: DbConnection,
    category: str,
    symbol: str,
    interval: str,
    start: datetime,
    end: datetime,
    warmup: int,
) -> Candles:
    """The stored candles of [start, end] after the last `warmup` stored before `start` (fewer
    if there are not as many), oldest first, in one query: a backtest's bars and warm-up."""
    return await _copy_candles(
        conn,
        """WHERE category = $1 AND symbol = $2 AND interval = $3 AND open_time <= $5
             AND open_time >= coalesce(
                 (SELECT min(open_time) FROM (
                     SELECT open_time FROM klines
                     WHERE category = $1 AND symbol = $2 AND interval = $3 AND open_time < $4
                     ORDER BY open_time DESC LIMIT $6) AS warmup),
                 $4)""",
        category,
        symbol,
        interval,
        start,
        end,
        warmup,
    )


async def _copy_candles(conn: DbConnection, where: str, *args: Any) -> Candles:
    buffer = io.BytesIO()
    await conn.copy_from_query(
        f"""SELECT {", ".join(candle_copy.COLUMNS)} FROM klines {where} ORDER BY open_time""",
        *args,
        output=buffer,
        format="binary",
    )
    return candle_copy.decode(buffer.getvalue())
