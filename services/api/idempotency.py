"""Idempotent job submission: a retry with the same key answers the job the first submission
created (for 24 hours), creating nothing new, however many retries run at once.

The key is an HTTP request's `Idempotency-Key` or an AMQP submission's message `id`; both
share one store, per kind of job.
"""

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from uuid import UUID, uuid4

import asyncpg
from aiohttp import web
from pydantic import BaseModel

from services.api.errors import Unprocessable
from shared.db import DbConnection, Statement, run_all
from shared.repos.idempotency import EarlierSubmission, KeyClaim, claim_keys

HEADER = "Idempotency-Key"
_KEY = re.compile(r"^[\x20-\x7e]{1,255}$")


@dataclass(frozen=True)
class Submission:
    job_id: UUID
    replayed: bool  # an earlier submission with this key created it

    @property
    def headers(self) -> dict[str, str]:
        return {"Idempotent-Replayed": "true"} if self.replayed else {}


def idempotency_key(request: web.Request) -> str | None:
    """The request's `Idempotency-Key`, refused (422) unless 1 to 255 printable characters."""
    key = request.headers.get(HEADER)
    if key is not None and not _KEY.match(key):
        raise Unprocessable.for_field(HEADER, "must be 1 to 255 printable ASCII characters")
    return key


def fingerprint(body: BaseModel) -> str:
    return hashlib.sha256(body.model_dump_json().encode()).hexdigest()


@dataclass(frozen=True)
class Creation:
    """A job to create once per `key`: `body` is the validated request (so a key reused for
    another one is refused, naming `key_field`: the header, or the message's `id`), `insert`
    the statement that writes the job (its row and its outbox message) under the id it is
    given, run inside the caller's transaction."""

    scope: str
    key: str | None
    key_field: str
    body: BaseModel
    insert: Callable[[UUID], Statement]
    job_id: UUID = field(default_factory=uuid4)

    async def claim_and_create(self, conn: DbConnection) -> EarlierSubmission | None:
        """In a transaction: create the job unless its key names an earlier one (returned)."""
        return (await claim_and_create_all(conn, [self]))[0]

    def claim(self) -> KeyClaim | None:
        """The key names its job from the start: claimed and bound in one statement."""
        if self.key is None:
            return None
        return KeyClaim(self.scope, self.key, fingerprint(self.body), self.job_id)

    def outcome(self, earlier: EarlierSubmission | None) -> Submission:
        """Once committed: the job created, or the earlier one its key names."""
        if earlier is None:
            return Submission(self.job_id, replayed=False)
        if earlier.fingerprint != fingerprint(self.body):
            raise Unprocessable.for_field(
                self.key_field, "already used, within 24 hours, for a different request"
            )
        return Submission(earlier.job_id, replayed=True)


async def claim_and_create_all(
    conn: DbConnection, creations: Sequence[Creation]
) -> list[EarlierSubmission | None]:
    """In a transaction: each job created unless its key names an earlier one (returned for
    it); the keys claimed together, before any job is created, and the jobs of a kind written
    together (one round trip)."""
    claims = {id(c): claim for c in creations if (claim := c.claim()) is not None}
    found = dict(zip(claims, await claim_keys(conn, list(claims.values())), strict=True))
    outcomes = [found.get(id(creation)) for creation in creations]
    created = [c for c, earlier in zip(creations, outcomes, strict=True) if earlier is None]
    await run_all(conn, [creation.insert(creation.job_id) for creation in created])
    return outcomes


async def create_once(
    pool: asyncpg.Pool, creation: Creation, before_commit: Callable[[], None] | None = None
) -> Submission:
    """Create the job in a transaction of its own, unless its key did so already.
    `before_commit` is told right before the COMMIT goes out: before it, nothing exists (what
    a request's budget says on a stall)."""
    async with pool.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        try:
            earlier = await creation.claim_and_create(conn)
        except BaseException:
            await transaction.rollback()
            raise
        if before_commit is not None:
            before_commit()
        await transaction.commit()
    return creation.outcome(earlier)
