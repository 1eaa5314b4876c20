"""SQL that every job table shares: a job's status; a DELETE cancels a live job, or deletes a
settled one; the live jobs' states for the event stream; the counts by status for /metrics."""

from typing import Any, Literal
from uuid import UUID

from shared.db import DbConnection, DbExecutor
from shared.jobs import JOB_TABLES, TERMINAL_STATUSES, JobKind, JobStatus, JobTable


async def job_status(db: DbExecutor, table: JobTable, job_id: UUID) -> JobStatus | None:
    """The job's status; None if there is no such job."""
    status: JobStatus | None = await db.fetchval(
        f"SELECT status FROM {table} WHERE id = $1", job_id
    )
    return status


async def cancel_or_delete(
    db: DbConnection, table: JobTable, job_id: UUID
) -> Literal["cancelled", "deleted"] | None:
    """Cancel a queued or running job (its workers see the status and stop), else delete it
    with what it produced (trades, equity, results: by cascade). None if there is no such job."""
    async with db.transaction():
        status = await db.fetchval(f"SELECT status FROM {table} WHERE id = $1 FOR UPDATE", job_id)
        if status is None:
            return None
        if status in TERMINAL_STATUSES:
            await db.execute(f"DELETE FROM {table} WHERE id = $1", job_id)
            return "deleted"
        await db.execute(
            f"""UPDATE {table} SET status = 'cancelled', finished_at = now(),
                    error = 'cancelled by request' WHERE id = $1""",
            job_id,
        )
        return "cancelled"


# A job that ended this recently is still polled, so its end is told even without the broker.
_RECENT_SECONDS = 30
_LIVE_AND_RECENT_SQL = f"""
SELECT 'backtest' AS kind, id, status, NULL::bigint AS done, NULL::bigint AS total, error,
       submission_id
  FROM backtests
 WHERE status IN ('queued', 'running') OR finished_at > now() - interval '{_RECENT_SECONDS} s'
UNION ALL
SELECT 'optimization', id, status, progress_done, progress_total, error, submission_id
  FROM optimizations
 WHERE status IN ('queued', 'running') OR finished_at > now() - interval '{_RECENT_SECONDS} s'
UNION ALL
SELECT 'backfill', r.id, r.status, p.pages_done, p.pages_total, r.error, r.submission_id
  FROM backfill_run r LEFT JOIN backfill_progress p ON p.backfill_id = r.id
 WHERE r.status IN ('queued', 'running') OR r.finished_at > now() - interval '{_RECENT_SECONDS} s'
"""


async def live_and_recent_jobs(db: DbExecutor) -> list[Any]:
    """Every queued or running job, and those that ended within the last seconds: kind, id,
    status, progress (done, total), error and the AMQP submission that created it."""
    return list(await db.fetch(_LIVE_AND_RECENT_SQL))


async def job_counts(db: DbExecutor) -> list[tuple[JobKind, str, int]]:
    """(kind, status, count) over every job table."""
    return [
        (kind, row["status"], row["n"])
        for kind, table in JOB_TABLES.items()
        for row in await db.fetch(f"SELECT status, count(*) AS n FROM {table} GROUP BY status")
    ]
