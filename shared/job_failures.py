"""Failing a job: its row marked `failed` with the reason, and its failure event, together."""

import logging
from uuid import UUID

from shared.db import DbConnection
from shared.jobs import JobTable
from shared.messages import JobEvent
from shared.outbox import add_to_outbox

log = logging.getLogger(__name__)


async def fail_job(
    conn: DbConnection, table: JobTable, job_id: UUID, error: str, event: JobEvent
) -> bool:
    """Mark a queued or running job failed and announce `event` (with the job's submission
    id); False if it had settled."""
    async with conn.transaction():
        failed = await conn.fetchrow(
            f"""UPDATE {table} SET status = 'failed', error = $2, finished_at = now()
                WHERE id = $1 AND status IN ('queued', 'running') RETURNING submission_id""",
            job_id,
            error,
        )
        if failed is None:
            return False
        submission_id = failed["submission_id"]
        await add_to_outbox(conn, event.model_copy(update={"submission_id": submission_id}))
    log.warning("job failed", extra={"job": table, "job_id": str(job_id), "reason": error})
    return True
