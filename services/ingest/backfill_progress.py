"""The ingest's side of a backfill job: claim it, advance its cursor with the data, settle it."""

from dataclasses import dataclass
from uuid import UUID

import asyncpg

from domain.market.intervals import from_epoch_ms
from services.ingest.kline_pages import page_windows
from services.ingest.kline_store import KLINES, MARK_PRICE_KLINES, CandleTable, Series
from services.ingest.perpetual_pages import funding_pages_at_most
from shared.db import DbConnection
from shared.job_failures import fail_job
from shared.messages import BackfillCompleted, BackfillFailed
from shared.outbox import add_to_outbox
from shared.timestamps import to_epoch_ms


class LostClaim(Exception):
    """Another worker advanced this backfill meanwhile; this one must stop."""


class Cancelled(Exception):
    """The backfill was cancelled (DELETE /backfills/{id}); its worker stops."""


@dataclass(frozen=True)
class ClaimedBackfill:
    id: UUID
    series: Series
    start_ms: int
    end_ms: int
    cursor_ms: int  # the next open time to fetch
    include: tuple[str, ...] = ()  # besides candles: "mark_price", "funding"
    funding_cursor_ms: int | None = None  # the next endTime of the backwards walk

    @property
    def candle_tables(self) -> tuple[CandleTable, ...]:
        """Fetched window by window, all with the one cursor."""
        if MARK_PRICE_KLINES.feed in self.include:
            return (KLINES, MARK_PRICE_KLINES)
        return (KLINES,)

    @property
    def perpetual(self) -> bool:
        """Linear and inverse contracts have a funding interval, leverage and risk tiers."""
        return self.series.category != "spot"

    @property
    def funding_pending(self) -> bool:
        return self.funding_cursor_ms is not None and self.funding_cursor_ms >= self.start_ms

    def pages_planned(self, funding_interval: int | None) -> int:
        """Candle pages exactly; funding pages as an upper bound until the interval is known."""
        windows = len(page_windows(self.start_ms, self.end_ms, self.series.interval))
        pages = windows * len(self.candle_tables)
        if FUNDING in self.include:
            pages += funding_pages_at_most(self.start_ms, self.end_ms, funding_interval)
        return pages


FUNDING = "funding"


async def claim(pool: asyncpg.Pool, backfill_id: UUID) -> ClaimedBackfill | None:
    """Mark the job running and return where to resume; None if it is gone or already settled."""
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            """UPDATE backfill_run SET status = 'running', started_at = coalesce(started_at, now())
               WHERE id = $1 AND status IN ('queued', 'running')
               RETURNING category, symbol, interval, start_time, end_time, include""",
            backfill_id,
        )
        if row is None:
            return None
        series = Series(row["category"], row["symbol"], row["interval"])
        start_ms, end_ms = to_epoch_ms(row["start_time"]), to_epoch_ms(row["end_time"])
        include = tuple(row["include"])
        planned = ClaimedBackfill(backfill_id, series, start_ms, end_ms, start_ms, include)
        await conn.execute(
            """INSERT INTO backfill_progress (backfill_id, cursor_time, pages_total,
                                              funding_cursor_time)
               VALUES ($1, $2, $3, $4) ON CONFLICT (backfill_id) DO NOTHING""",
            backfill_id,
            row["start_time"],
            planned.pages_planned(None),
            row["end_time"] if FUNDING in include else None,
        )
        cursors = await conn.fetchrow(
            """SELECT cursor_time, funding_cursor_time FROM backfill_progress
               WHERE backfill_id = $1""",
            backfill_id,
        )
    assert cursors is not None
    funding_cursor = cursors["funding_cursor_time"]
    return ClaimedBackfill(
        backfill_id,
        series,
        start_ms,
        end_ms,
        to_epoch_ms(cursors["cursor_time"]),
        include,
        to_epoch_ms(funding_cursor) if funding_cursor is not None else None,
    )


async def plan_pages(
    conn: DbConnection, job: ClaimedBackfill, funding_interval: int | None
) -> None:
    """Set pages_total once the funding interval is known."""
    await conn.execute(
        "UPDATE backfill_progress SET pages_total = $2 WHERE backfill_id = $1",
        job.id,
        job.pages_planned(funding_interval),
    )


async def ensure_running(conn: DbConnection, backfill_id: UUID) -> None:
    """Inside a batch's transaction, before it writes: raise Cancelled if the job was cancelled.
    The row lock orders this against a cancel, so no batch commits after one."""
    status = await conn.fetchval(
        "SELECT status FROM backfill_run WHERE id = $1 FOR SHARE", backfill_id
    )
    if status != "running":
        raise Cancelled(f"backfill {backfill_id} is {status or 'deleted'}")


async def advance(
    conn: DbConnection, backfill_id: UUID, from_ms: int, to_ms: int, rows: int, pages: int
) -> None:
    """Move the cursor, inside the transaction that wrote the data it accounts for."""
    await _move(conn, "cursor_time", backfill_id, from_ms, to_ms, rows, pages)


async def advance_funding(
    conn: DbConnection, backfill_id: UUID, from_ms: int, to_ms: int, pages: int
) -> None:
    """Move the funding cursor back, inside the transaction that wrote those fundings
    (`rows` counts candles only)."""
    await _move(conn, "funding_cursor_time", backfill_id, from_ms, to_ms, 0, pages)


async def _move(
    conn: DbConnection,
    cursor: str,
    backfill_id: UUID,
    from_ms: int,
    to_ms: int,
    rows: int,
    pages: int,
) -> None:
    updated = await conn.execute(
        f"""UPDATE backfill_progress
            SET {cursor} = $3, rows_written = rows_written + $4, pages_done = pages_done + $5,
                updated_at = now()
            WHERE backfill_id = $1 AND {cursor} = $2""",
        backfill_id,
        from_epoch_ms(from_ms),
        from_epoch_ms(to_ms),
        rows,
        pages,
    )
    if updated != "UPDATE 1":
        raise LostClaim(f"backfill {backfill_id} moved past {from_ms} elsewhere")


async def succeed(pool: asyncpg.Pool, backfill_id: UUID) -> None:
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetchval(
            """UPDATE backfill_run SET status = 'succeeded', finished_at = now(), error = NULL
               FROM backfill_progress p WHERE id = $1 AND p.backfill_id = id
                 AND status = 'running'
               RETURNING p.rows_written""",
            backfill_id,
        )
        if rows is not None:
            await add_to_outbox(conn, BackfillCompleted(backfill_id=backfill_id, rows=rows))


async def fail(pool: asyncpg.Pool, backfill_id: UUID, error: str) -> None:
    event = BackfillFailed(backfill_id=backfill_id, error=error)
    async with pool.acquire() as conn:
        await fail_job(conn, "backfill_run", backfill_id, error, event)
