"""`Idempotency-Key` on job submissions: a retry with the same key answers the job the first
request created (for 24 hours), creating nothing new, however many retries run at once."""

import hashlib
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from uuid import UUID

from aiohttp import web
from pydantic import BaseModel

from services.api.endpoints import accepted
from services.api.errors import Conflict, Unprocessable
from services.api.keys import POOL
from services.api.request_budget import commit_sent, submitting
from shared.db import DbConnection, DbExecutor
from shared.repos.idempotency import bind_key, claim_key

HEADER = "Idempotency-Key"
_KEY = re.compile(r"^[\x20-\x7e]{1,255}$")


@dataclass(frozen=True)
class Submission:
    job_id: UUID
    replayed: bool  # an earlier request with this key created it

    @property
    def headers(self) -> dict[str, str]:
        return {"Idempotent-Replayed": "true"} if self.replayed else {}


def _key(request: web.Request) -> str | None:
    key = request.headers.get(HEADER)
    if key is not None and not _KEY.match(key):
        raise Unprocessable.for_field(HEADER, "must be 1 to 255 printable ASCII characters")
    return key


def fingerprint(body: BaseModel) -> str:
    return hashlib.sha256(body.model_dump_json().encode()).hexdigest()


async def submit_once(
    request: web.Request,
    scope: str,
    body: BaseModel,
    create: Callable[[DbConnection], Awaitable[UUID]],
) -> Submission:
    """Create the job with `create` (inside a transaction), unless the request's key did so
    already; `body` is the validated request, so a key reused for another one is refused.
    The request's budget is told when the COMMIT goes out: before it, nothing exists."""
    key = _key(request)
    async with request.app[POOL].acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        try:
            earlier = None
            if key is not None:
                earlier = await claim_key(conn, scope, key, fingerprint(body))
            if earlier is None:
                job_id = await create(conn)
                if key is not None:
                    await bind_key(conn, scope, key, job_id)
        except BaseException:
            await transaction.rollback()
            raise
        commit_sent(request)
        await transaction.commit()
    if earlier is None:
        return Submission(job_id, replayed=False)
    if earlier.fingerprint != fingerprint(body):
        raise Unprocessable.for_field(
            HEADER, "already used, within 24 hours, for a different request"
        )
    return Submission(earlier.job_id, replayed=True)


def job_gone(job: str, submission: Submission) -> Conflict:
    return Conflict(
        f"the {job} {submission.job_id} created with this {HEADER} has been deleted since"
    )


async def accept_once(
    request: web.Request,
    scope: str,
    what: str,
    body: BaseModel,
    create: Callable[[DbConnection], Awaitable[UUID]],
    load: Callable[[DbExecutor, UUID], Awaitable[BaseModel | None]],
) -> web.Response:
    """A job's POST: created once per key; 202 with the job (`load`ed) and where to follow it
    (`/api/v1/<scope>/<id>`)."""
    submitting(request, what)
    submission = await submit_once(request, scope, body, create)
    view = await load(request.app[POOL], submission.job_id)
    if view is None:
        raise job_gone(what, submission)
    return accepted(view, f"/api/v1/{scope}/{submission.job_id}", submission.headers)
