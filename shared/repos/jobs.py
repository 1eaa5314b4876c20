"""SQL that every job table shares: a job's status; a DELETE cancels a live job, or deletes a
settled one."""

from typing import Literal
from uuid import UUID

from shared.db import DbConnection, DbExecutor
from shared.jobs import TERMINAL_STATUSES, JobStatus, JobTable


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
