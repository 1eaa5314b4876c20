"""Failing a job: its row marked `failed` with the reason, and its failure event, together."""

import logging
from uuid import UUID

from shared.db import DbConnection
from shared.jobs import JobTable
from shared.messages import Message
from shared.outbox import add_to_outbox

log = logging.getLogger(__name__)


async def fail_job(
    conn: DbConnection, table: JobTable, job_id: UUID, error: str, event: Message
) -> bool:
    """Mark a queued or running job failed and announce `event`; False if it had settled."""
    async with conn.transaction():
        updated = await conn.execute(
            f"""UPDATE {table} SET status = 'failed', error = $2, finished_at = now()
                WHERE id = $1 AND status IN ('queued', 'running')""",
            job_id,
            error,
        )
        if updated != "UPDATE 1":
            return False
        await add_to_outbox(conn, event)
    log.warning("job failed", extra={"job": table, "job_id": str(job_id), "reason": error})
    return True
