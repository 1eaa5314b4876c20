"""Reading stored candles and their coverage; a perpetual's mark prices, fundings and limits."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from domain.market.candles import PRICE_FIELDS, Candles
from shared import candle_blocks, candle_copy
from shared.db import DbConnection, DbExecutor

Price = Literal["last", "mark"]
# The table of each price's candles, the table of its packed blocks, and the fields it stores
# besides open_time.
_CANDLE_TABLES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "last": ("klines", "kline_blocks", PRICE_FIELDS),
    "mark": ("mark_price_klines", "mark_price_kline_blocks", candle_copy.MARK_PRICE_FIELDS),
}


async def coverage(db: DbExecutor, *, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    """Per stored series: first and last open time, count, and the recorded gaps; read from
    the packed blocks (a row per ~1,440 candles), never a scan of the candle rows."""
    series = _block_coverage("kline_blocks", PRICE_FIELDS)
    marks = _block_coverage("mark_price_kline_blocks", candle_copy.MARK_PRICE_FIELDS)
    rows = await db.fetch(
        f"""WITH series AS ({series}), marks AS ({marks})
           SELECT s.*, {_gaps_of("kline_gaps")} AS gaps,
                  CASE WHEN m.count IS NOT NULL THEN jsonb_build_object(
                      'first_open_time', m.first_open_time,
                      'last_open_time', m.last_open_time, 'count', m.count,
                      'gaps', {_gaps_of("mark_price_kline_gaps")}) END AS mark_price,
                  (SELECT CASE WHEN count(*) > 0 THEN jsonb_build_object(
                              'first_time', min(f.funding_time),
                              'last_time', max(f.funding_time), 'count', count(*)) END
                   FROM funding_rates f
                   WHERE f.category = s.category AND f.symbol = s.symbol) AS funding,
                  count(*) OVER () AS total
           FROM series s LEFT JOIN marks m
             ON m.category = s.category AND m.symbol = s.symbol AND m.interval = s.interval
           ORDER BY s.category, s.symbol, s.interval LIMIT $1 OFFSET $2""",
        limit,
        offset,
    )
    total = rows[0]["total"] if rows else await _series_count(db)
    return [{k: v for k, v in dict(r).items() if k != "total"} for r in rows], int(total)


def _block_coverage(blocks: str, fields: tuple[str, ...]) -> str:
    """Each series of a block table: the open time of its first candle (the first 8 bytes of
    its first block, microseconds since 2000-01-01, sliced without reading the rest), of its
    last, and how many candles it holds (its blocks' lengths, read without their bytes)."""
    row_bytes = 8 * (1 + len(fields))
    return f"""SELECT b.category, b.symbol, b.interval,
                      timestamptz '2000-01-01 00:00:00+00' + interval '1 microsecond' * (
                          ('x' || encode(substring(first.candles FROM 1 FOR 8), 'hex')
                          )::bit(64)::bigint) AS first_open_time,
                      b.last_open_time, b.count
               FROM (SELECT category, symbol, interval, min(block) AS first_block,
                            max(last_time) AS last_open_time,
                            sum(octet_length(candles) / {row_bytes})::bigint AS count
                     FROM {blocks} GROUP BY category, symbol, interval) b
               JOIN {blocks} first
                 ON first.category = b.category AND first.symbol = b.symbol
                AND first.interval = b.interval AND first.block = b.first_block"""


def _gaps_of(table: str) -> str:
    """The recorded gaps of the series `s`, as a JSON list."""
    return f"""coalesce(
                   (SELECT jsonb_agg(jsonb_build_object('start', g.gap_start, 'end', g.gap_end)
                                     ORDER BY g.gap_start)
                    FROM {table} g
                    WHERE g.category = s.category AND g.symbol = s.symbol
                      AND g.interval = s.interval),
                   '[]'::jsonb)"""


async def _series_count(db: DbExecutor) -> int:
    return int(
        await db.fetchval(
            "SELECT count(*) FROM (SELECT DISTINCT category, symbol, interval FROM kline_blocks) s"
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
    price: Price = "last",
) -> tuple[list[dict[str, Any]], int]:
    """Candles of the last price, or of the mark price (which have no volume)."""
    table, _, fields = _CANDLE_TABLES[price]
    where = "category = $1 AND symbol = $2 AND interval = $3 AND open_time BETWEEN $4 AND $5"
    args = (category, symbol, interval, start, end)
    rows = await db.fetch(
        f"""SELECT open_time, {", ".join(fields)} FROM {table}
            WHERE {where} ORDER BY open_time LIMIT $6 OFFSET $7""",
        *args,
        limit,
        offset,
    )
    total = await db.fetchval(f"SELECT count(*) FROM {table} WHERE {where}", *args)
    return [dict(r) for r in rows], int(total)


_FUNDING_RANGE = """FROM funding_rates WHERE category = $1 AND symbol = $2
                    AND funding_time BETWEEN $3 AND $4"""


async def fundings_page(
    db: DbExecutor,
    category: str,
    symbol: str,
    start: datetime,
    end: datetime,
    *,
    limit: int,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
    """Stored fundings of [start, end], oldest first, as {"time", "rate"}."""
    args = (category, symbol, start, end)
    rows = await db.fetch(
        f"""SELECT funding_time AS time, rate {_FUNDING_RANGE}
            ORDER BY funding_time LIMIT $5 OFFSET $6""",
        *args,
        limit,
        offset,
    )
    total = await db.fetchval(f"SELECT count(*) {_FUNDING_RANGE}", *args)
    return [dict(r) for r in rows], int(total)


@dataclass(frozen=True)
class Fundings:
    time: npt.NDArray[np.int64]  # epoch ms, ascending
    rate: npt.NDArray[np.float64]


async def load_fundings(
    db: DbExecutor, category: str, symbol: str, start: datetime, end: datetime
) -> Fundings:
    rows = await db.fetch(
        f"""SELECT (extract(epoch FROM funding_time) * 1000)::bigint AS t, rate
            {_FUNDING_RANGE} ORDER BY funding_time""",
        category,
        symbol,
        start,
        end,
    )
    return Fundings(np.array([r["t"] for r in rows], np.int64), np.array([r["rate"] for r in rows]))


async def has_fundings(
    db: DbExecutor, category: str, symbol: str, start: datetime, end: datetime
) -> bool:
    """At least one stored funding in [start, end]."""
    return bool(
        await db.fetchval(
            f"SELECT EXISTS (SELECT 1 {_FUNDING_RANGE})", category, symbol, start, end
        )
    )


@dataclass(frozen=True)
class InstrumentLimits:
    """What a backtest's leverage and maintenance margin rate are checked against."""

    funding_interval: int | None  # minutes
    max_leverage: float | None
    lowest_maintenance_margin: float | None  # of the lowest-risk tier


async def instrument_limits(db: DbExecutor, category: str, symbol: str) -> InstrumentLimits | None:
    """None when no backfill has stored the instrument."""
    row = await db.fetchrow(
        """SELECT i.funding_interval, i.max_leverage,
                  (SELECT t.maintenance_margin FROM risk_limit_tiers t
                   WHERE t.category = i.category AND t.symbol = i.symbol
                   ORDER BY t.is_lowest_risk DESC, t.risk_limit_value LIMIT 1) AS mm
           FROM instruments i WHERE i.category = $1 AND i.symbol = $2""",
        category,
        symbol,
    )
    if row is None:
        return None
    return InstrumentLimits(row["funding_interval"], row["max_leverage"], row["mm"])


_IN_RANGE = """FROM klines WHERE category = $1 AND symbol = $2 AND interval = $3
               AND open_time BETWEEN $4 AND $5"""


async def candle_count(
    db: DbExecutor, category: str, symbol: str, interval: str, start: datetime, end: datetime
) -> int:
    return int(
        await db.fetchval(f"SELECT count(*) {_IN_RANGE}", category, symbol, interval, start, end)
    )


async def candle_span(
    db: DbExecutor, category: str, symbol: str, interval: str, start: datetime, end: datetime
) -> tuple[int, datetime | None]:
    """How many candles are stored in the range, and the open time of the last of them. The
    packed blocks wholly inside the range count by their lengths (not read); the candles of
    the blocks at its two ends, one by one (a year of minutes: 363 lengths and at most 2,880
    rows instead of 525,600)."""
    row_bytes = 8 * (1 + len(PRICE_FIELDS))
    first_after = "to_timestamp((candle_block($3, $4) + 1) * candle_block_seconds($3))"
    last_from = (
        f"greatest({first_after}, to_timestamp(candle_block($3, $5) * candle_block_seconds($3)))"
    )
    row = await db.fetchrow(
        f"""SELECT
              (SELECT coalesce(sum(octet_length(candles)), 0)::bigint / {row_bytes}
               FROM kline_blocks WHERE category = $1 AND symbol = $2 AND interval = $3
                 AND block > candle_block($3, $4) AND block < candle_block($3, $5))
              + (SELECT count(*) {_IN_RANGE} AND open_time < {first_after})
              + (SELECT count(*) {_IN_RANGE} AND open_time >= {last_from}) AS bars,
              (SELECT open_time {_IN_RANGE} ORDER BY open_time DESC LIMIT 1) AS data_end""",
        category,
        symbol,
        interval,
        start,
        end,
    )
    assert row is not None
    return int(row["bars"]), row["data_end"]


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
    conn: DbConnection,
    category: str,
    symbol: str,
    interval: str,
    start: datetime,
    end: datetime,
    price: Price = "last",
) -> Candles:
    """The stored candles of [start, end], oldest first, read from their packed blocks into
    numpy; mark-price candles come with zero volume and turnover."""
    _, blocks, fields = _CANDLE_TABLES[price]
    rows = await conn.fetch(
        f"""SELECT candles FROM {blocks}
            WHERE category = $1 AND symbol = $2 AND interval = $3
              AND block BETWEEN candle_block($3, $4) AND candle_block($3, $5)
            ORDER BY block""",
        category,
        symbol,
        interval,
        start,
        end,
    )
    return candle_blocks.decode([row["candles"] for row in rows], fields, start, end)


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
    if there are not as many), oldest first: a backtest's bars and warm-up."""
    loaded = await load_many_candles_warmed(conn, category, [symbol], interval, start, end, warmup)
    return loaded[symbol]


async def load_many_candles_warmed(
    conn: DbConnection,
    category: str,
    symbols: Sequence[str],
    interval: str,
    start: datetime,
    end: datetime,
    warmup: int,
) -> dict[str, Candles]:
    """`load_candles_warmed` of every symbol, in one query (a portfolio's symbols)."""
    rows = await conn.fetch(
        """WITH firsts AS MATERIALIZED (
               SELECT s.symbol, coalesce(
                   (SELECT min(open_time) FROM (
                       SELECT open_time FROM klines
                       WHERE category = $1 AND symbol = s.symbol AND interval = $3
                         AND open_time < $4
                       ORDER BY open_time DESC LIMIT $6) AS warmup),
                   $4) AS first_time
               FROM unnest($2::text[]) AS s(symbol))
           SELECT f.symbol, f.first_time, b.candles
           FROM firsts f
           LEFT JOIN kline_blocks b
             ON b.category = $1 AND b.symbol = f.symbol AND b.interval = $3
            AND b.block BETWEEN candle_block($3, f.first_time) AND candle_block($3, $5)
           ORDER BY f.symbol, b.block""",
        category,
        list(dict.fromkeys(symbols)),
        interval,
        start,
        end,
        warmup,
    )
    first_time: dict[str, datetime] = {}
    blocks: dict[str, list[bytes]] = {}
    for row in rows:
        first_time[row["symbol"]] = row["first_time"]
        if row["candles"] is not None:
            blocks.setdefault(row["symbol"], []).append(row["candles"])
    return {
        symbol: candle_blocks.decode(blocks.get(symbol, []), PRICE_FIELDS, first_time[symbol], end)
        for symbol in symbols
    }
