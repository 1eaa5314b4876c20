"""The ingest's side of a backfill job: claim it, advance its cursor with the data, settle it."""

from dataclasses import dataclass
from uuid import UUID

import asyncpg

from services.ingest.kline_pages import page_windows
from services.ingest.kline_store import Series
from shared.db import DbConnection
from shared.job_failures import fail_job
from shared.messages import BackfillCompleted, BackfillFailed
from shared.outbox import add_to_outbox
from shared.timestamps import from_epoch_ms, to_epoch_ms


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


async def claim(pool: asyncpg.Pool, backfill_id: UUID) -> ClaimedBackfill | None:
    """Mark the job running and return where to resume; None if it is gone or already settled."""
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            """UPDATE backfill_run SET status = 'running', started_at = coalesce(started_at, now())
               WHERE id = $1 AND status IN ('queued', 'running')
               RETURNING category, symbol, interval, start_time, end_time""",
            backfill_id,
        )
        if row is None:
            return None
        series = Series(row["category"], row["symbol"], row["interval"])
        start_ms, end_ms = to_epoch_ms(row["start_time"]), to_epoch_ms(row["end_time"])
        await conn.execute(
            """INSERT INTO backfill_progress (backfill_id, cursor_time, pages_total)
               VALUES ($1, $2, $3) ON CONFLICT (backfill_id) DO NOTHING""",
            backfill_id,
            row["start_time"],
            len(page_windows(start_ms, end_ms, series.interval)),
        )
        cursor = await conn.fetchval(
            "SELECT cursor_time FROM backfill_progress WHERE backfill_id = $1", backfill_id
        )
    return ClaimedBackfill(backfill_id, series, start_ms, end_ms, to_epoch_ms(cursor))


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
    updated = await conn.execute(
        """UPDATE backfill_progress
           SET cursor_time = $3, rows_written = rows_written + $4, pages_done = pages_done + $5,
               updated_at = now()
           WHERE backfill_id = $1 AND cursor_time = $2""",
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
