"""Idempotency keys of job submissions: which job a key created, for 24 hours."""

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from shared.db import STATEMENT_TIMEOUT_SECONDS, DbConnection, DbExecutor

KEY_HOURS = 24


@dataclass(frozen=True)
class EarlierSubmission:
    job_id: UUID
    fingerprint: str


@dataclass(frozen=True)
class KeyClaim:
    """A key to bind to the job `job_id` (created in the same transaction)."""

    scope: str
    key: str
    fingerprint: str
    job_id: UUID

    @property
    def name(self) -> tuple[str, str]:
        return self.scope, self.key


async def claim_keys(
    conn: DbConnection, claims: Sequence[KeyClaim]
) -> list[EarlierSubmission | None]:
    """Inside the transaction that creates the claims' jobs, for each claim: None if its key
    is now its job's (new, or its earlier use expired), else the submission that holds it (a
    key claimed twice here is the first claim's). One statement for all of them, taking the
    keys in order, so two transactions claiming some of the same keys never wait on each
    other crosswise; a concurrent claim of the same key waits until the first one's
    transaction ends."""
    firsts: dict[tuple[str, str], KeyClaim] = {}
    for claim in claims:
        firsts.setdefault(claim.name, claim)
    ordered = sorted(firsts.values(), key=lambda claim: claim.name)
    rows = await conn.fetch(
        f"""INSERT INTO idempotency_keys (scope, key, fingerprint, job_id)
            SELECT scope, key, fingerprint, job_id
              FROM unnest($1::text[], $2::text[], $3::text[], $4::uuid[])
                   WITH ORDINALITY AS c(scope, key, fingerprint, job_id, n)
             ORDER BY n
            ON CONFLICT (scope, key) DO UPDATE
                SET fingerprint = EXCLUDED.fingerprint, job_id = EXCLUDED.job_id,
                    created_at = now()
                WHERE idempotency_keys.created_at < now() - interval '{KEY_HOURS} hours'
            RETURNING scope, key""",
        [claim.scope for claim in ordered],
        [claim.key for claim in ordered],
        [claim.fingerprint for claim in ordered],
        [claim.job_id for claim in ordered],
    )
    claimed = {(row["scope"], row["key"]) for row in rows}
    held = [claim for claim in ordered if claim.name not in claimed]
    earlier: dict[tuple[str, str], EarlierSubmission] = {}
    if held:
        rows = await conn.fetch(
            """SELECT k.scope, k.key, k.job_id, k.fingerprint
                 FROM idempotency_keys k
                 JOIN unnest($1::text[], $2::text[]) AS c(scope, key) USING (scope, key)""",
            [claim.scope for claim in held],
            [claim.key for claim in held],
        )
        for row in rows:
            assert row["job_id"] is not None  # committed with its job
            earlier[(row["scope"], row["key"])] = EarlierSubmission(
                row["job_id"], row["fingerprint"]
            )
    outcomes: list[EarlierSubmission | None] = []
    for claim in claims:
        first = firsts[claim.name]
        if claim.name not in claimed:
            outcomes.append(earlier[claim.name])
        elif claim is first:
            outcomes.append(None)
        else:
            outcomes.append(EarlierSubmission(first.job_id, first.fingerprint))
    return outcomes


async def delete_expired_keys(db: DbExecutor) -> int:
    deleted = await db.execute(
        f"DELETE FROM idempotency_keys WHERE created_at < now() - interval '{KEY_HOURS} hours'",
        timeout=STATEMENT_TIMEOUT_SECONDS,  # housekeeping: not a request's budget
    )
    return int(deleted.split()[-1])
