"""Idempotency keys of job submissions: which job a key created, for 24 hours."""

from dataclasses import dataclass
from uuid import UUID

from shared.db import STATEMENT_TIMEOUT_SECONDS, DbConnection, DbExecutor

KEY_HOURS = 24


@dataclass(frozen=True)
class EarlierSubmission:
    job_id: UUID
    fingerprint: str


async def claim_key(
    conn: DbConnection, scope: str, key: str, fingerprint: str, job_id: UUID
) -> EarlierSubmission | None:
    """Inside the transaction that creates the job `job_id`: None if this key is now its (new,
    or its earlier use expired), else the submission that holds it. A concurrent claim of the
    same key waits here until the first one's transaction ends."""
    claimed = await conn.fetchval(
        f"""INSERT INTO idempotency_keys (scope, key, fingerprint, job_id)
            VALUES ($1, $2, $3, $4)
            ON CONFLICT (scope, key) DO UPDATE
                SET fingerprint = EXCLUDED.fingerprint, job_id = EXCLUDED.job_id,
                    created_at = now()
                WHERE idempotency_keys.created_at < now() - interval '{KEY_HOURS} hours'
            RETURNING true""",
        scope,
        key,
        fingerprint,
        job_id,
    )
    if claimed:
        return None
    row = await conn.fetchrow(
        "SELECT job_id, fingerprint FROM idempotency_keys WHERE scope = $1 AND key = $2",
        scope,
        key,
    )
    assert row is not None and row["job_id"] is not None  # committed with its job
    return EarlierSubmission(row["job_id"], row["fingerprint"])


async def delete_expired_keys(db: DbExecutor) -> int:
    deleted = await db.execute(
        f"DELETE FROM idempotency_keys WHERE created_at < now() - interval '{KEY_HOURS} hours'",
        timeout=STATEMENT_TIMEOUT_SECONDS,  # housekeeping: not a request's budget
    )
    return int(deleted.split()[-1])
