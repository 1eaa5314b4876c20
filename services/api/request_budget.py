"""Every request answers within its budget, whatever PostgreSQL does.

A stalled server (it accepts bytes and answers nothing) holds a statement until a timeout,
and asyncpg's clean-up of a cancelled statement (the cancel request, the rollback) waits on
the same stalled server: bounding each statement alone does not bound a request. So the
handler runs in a task of its own; when the budget runs out before the answer has started,
the task is cancelled and left to unwind in the background (its statements bounded by the
API pool's statement timeout) while the client gets a 503 naming PostgreSQL at once.

The budget is the time to the answer's first byte: a streamed answer (the event stream, an
equity curve) that has started is not cut. Reads get a shorter budget than writes.

A job submission tells the client what the 503 means for its job: before the transaction's
COMMIT was sent nothing was created (and nothing will be: the transaction never commits);
once it was sent the outcome is unknown, and a retry with the same `Idempotency-Key` is the
safe way to learn it (it answers the job if it was created, and creates it if not).
"""

import asyncio
import logging
from typing import Any

from aiohttp import web

from services.api.endpoints import Handler
from services.api.errors import RETRY_AFTER_SECONDS, Unavailable, error_response
from services.api.keys import SETTINGS

log = logging.getLogger(__name__)

_READS = frozenset({"GET", "HEAD", "OPTIONS"})

# Set once the answer's headers go out (`answer_started`): from then on the budget is spent.
_ANSWER_STARTED = web.RequestKey("answer_started", asyncio.Event)
# The job a submission is creating, and whether its COMMIT has been sent.
_SUBMITTING = web.RequestKey("submitting", str)
_COMMIT_SENT = web.RequestKey("commit_sent", bool)

# Handlers cut off by their budget, still unwinding; kept so they are not garbage collected.
_abandoned: set[asyncio.Task[web.StreamResponse]] = set()


def budget_seconds(request: web.Request) -> float:
    settings = request.app[SETTINGS]
    if request.method in _READS:
        return settings.api_read_budget_seconds
    return settings.api_write_budget_seconds


def submitting(request: web.Request, job: str) -> None:
    """The request is creating a `job` (e.g. "backtest"); nothing is committed yet."""
    request[_SUBMITTING] = job
    request[_COMMIT_SENT] = False


def commit_sent(request: web.Request) -> None:
    """Call right before awaiting the COMMIT: from here the job may exist."""
    request[_COMMIT_SENT] = True


async def answer_started(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: the answer is under way, the budget no longer applies."""
    started = request.get(_ANSWER_STARTED)
    if started is not None:
        started.set()


@web.middleware
async def budget_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    budget = budget_seconds(request)
    started = request[_ANSWER_STARTED] = asyncio.Event()
    work: asyncio.Task[web.StreamResponse] = asyncio.ensure_future(handler(request))
    answering = asyncio.create_task(started.wait())
    try:
        await asyncio.wait({work, answering}, timeout=budget, return_when=asyncio.FIRST_COMPLETED)
        answering.cancel()
        if work.done() or started.is_set():
            return await work
    except asyncio.CancelledError:  # the server stops, or the client went away
        work.cancel()
        answering.cancel()
        raise
    work.cancel()
    _abandoned.add(work)
    work.add_done_callback(_forget)
    log.warning(
        "request over budget",
        extra={"path": request.path, "method": request.method, "budget_s": budget},
    )
    return _over_budget(request, budget)


def _over_budget(request: web.Request, budget: float) -> web.Response:
    job = request.get(_SUBMITTING)
    details: list[dict[str, Any]] = [
        {"field": "postgres", "message": f"no answer within {budget:g} s"}
    ]
    if job is None:
        message = f"postgres unavailable: no answer within {budget:g} s, retry later"
    elif request.get(_COMMIT_SENT):
        message = (
            f"postgres unavailable: no answer within {budget:g} s while committing the {job}, "
            "so it may or may not have been created; a retry with the same Idempotency-Key is "
            "safe (it answers the job if it was created, and creates it if not)"
        )
        details.append({"field": "Idempotency-Key", "message": f"the {job} may have been created"})
    else:
        message = (
            f"postgres unavailable: no answer within {budget:g} s; the {job} was not created, "
            "retry later"
        )
    response = error_response(503, Unavailable.code, message, details)
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _forget(task: asyncio.Task[web.StreamResponse]) -> None:
    _abandoned.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.info("abandoned request ended", extra={"error": repr(task.exception())})
