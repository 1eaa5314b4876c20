"""DELETE of a job, the same for every job type: cancel it while queued or running, else
delete its record (with what cascades from it)."""

from typing import Literal
from uuid import UUID

from shared.db import DbConnection
from shared.job_failures import JobTable

TERMINAL_STATUSES = ("succeeded", "failed", "cancelled")
Outcome = Literal["cancelled", "deleted"]


async def cancel_or_delete_job(conn: DbConnection, table: JobTable, job_id: UUID) -> Outcome | None:
    """ "cancelled", "deleted", or None if there is no such job. Workers see the status at their
    next commit (each checks it under a row lock) and stop."""
    async with conn.transaction():
        status = await conn.fetchval(f"SELECT status FROM {table} WHERE id = $1 FOR UPDATE", job_id)
        if status is None:
            return None
        if status in TERMINAL_STATUSES:
            await conn.execute(f"DELETE FROM {table} WHERE id = $1", job_id)
            return "deleted"
        await conn.execute(
            f"""UPDATE {table} SET status = 'cancelled', finished_at = now(),
                    error = 'cancelled by request' WHERE id = $1""",
            job_id,
        )
        return "cancelled"
