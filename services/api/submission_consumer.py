"""The API's consumer of job submissions from message-queue producers (the submissions queue,
fed by the submit exchange).

Each delivery is read (`submission_reading`), turned into a job by `submit_job` (the code path
of the POSTs, idempotent by the message `id`), answered on `reply_to` under its
`correlation_id` (the reply confirmed by the broker), and only then acknowledged:
- accepted: `SubmissionAccepted` with the job (for an id seen before, the job created then);
- refused (not JSON, an unknown type or version, no id, over 1 MiB, a request the POST would
  refuse): `SubmissionRejected` with the HTTP error shape; acknowledged, never redelivered;
- PostgreSQL away or stalled: the delivery is held and retried with backoff, and answered
  once the database is back, never rejected for the outage. Held too long, or when the API
  stops, it is handed back (a copy with the same properties queued, this one acknowledged),
  so the answer always waits until the outcome is known;
- RabbitMQ lost before the answer is confirmed: nothing is acknowledged; the redelivery is
  answered (the same id finds the same job);
- a failure of the API's own (a bug): retried a few times, then answered `internal` and
  dead-lettered, never looping.
Every outcome is logged with its reason and counted in /metrics.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aio_pika
import asyncpg
from aio_pika.abc import (
    AbstractChannel,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)
from aiohttp import web

from services.api.errors import ApiError
from services.api.job_submission import SubmittedJob, submit_job
from services.api.prometheus import ApiMetrics
from services.api.submission_reading import Submission, SubmissionRefused, read_submission
from shared.amqp import DELIVERY_LIMIT, Topology
from shared.consumer import OWN_FAILURE_BACKOFF
from shared.dependencies import OUTAGE_BACKOFF, Server, sleep_unless, unreachable_server
from shared.messages import Message
from shared.submissions import (
    ErrorBody,
    JobRef,
    SubmissionAccepted,
    SubmissionRejected,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

# Submissions handled at once by one API process.
PREFETCH = 32
# One attempt at a submission (its reads and its commit) waits at most this long for the
# database; a stalled one is then retried as an outage (the same id: never a second job).
ATTEMPT_SECONDS = 10.0
# Held through an outage this long, a submission is handed back to the queue.
HOLD_LIMIT_SECONDS = 600.0
_STOP_SECONDS = 5.0


class _Stalled(Exception):
    """The database did not answer one attempt within ATTEMPT_SECONDS."""


class _HandBack(Exception):
    """Stop holding this delivery: queue a copy and acknowledge it."""


# Attempts given up on a stalled database end in the background, unawaited.
_abandoned: set[asyncio.Task[Any]] = set()


async def _within(seconds: float, work: Callable[[], Awaitable[T]]) -> T:
    """`work()`'s result, or _Stalled after `seconds` (the attempt is left to end on its own:
    awaiting a cancelled call on a stalled connection could last as long as the stall)."""
    task = asyncio.ensure_future(work())
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if not done:
        task.cancel()
        _abandoned.add(task)
        task.add_done_callback(_forget)
        raise _Stalled
    return task.result()


def _forget(task: asyncio.Task[Any]) -> None:
    _abandoned.discard(task)
    if not task.cancelled():
        task.exception()


@dataclass
class _Held:
    since: float = field(default_factory=time.monotonic)
    waiting_for: Server | None = None


class SubmissionConsumer:
    def __init__(
        self,
        pool: asyncpg.Pool,
        topology: Topology,
        metrics: ApiMetrics,
        *,
        prefetch: int = PREFETCH,
        attempt_seconds: float = ATTEMPT_SECONDS,
    ) -> None:
        self._pool = pool
        self._topology = topology
        self._metrics = metrics
        self._prefetch = prefetch
        self._attempt_seconds = attempt_seconds
        self._channel: AbstractChannel | None = None
        self._queue: AbstractQueue | None = None
        self._tag: str | None = None
        self._stopping = asyncio.Event()
        self._in_hand: dict[asyncio.Task[Any], _Held] = {}

    async def start(self, connection: AbstractRobustConnection) -> None:
        """Consume on a channel of its own (a robust one: it resumes after a reconnect)."""
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=self._prefetch)
        await self._topology.declare(channel)
        queue = await channel.get_queue(self._topology.submissions)
        self._channel, self._queue = channel, queue
        self._tag = await queue.consume(self._on_message)
        log.info("consuming submissions", extra={"queue": self._topology.submissions})

    async def stop(self) -> None:
        """Take no new submissions; finish those in hand, handing back any held by an outage.
        Every call to the broker is bounded: with the broker away, stopping does not wait
        for it (unacknowledged deliveries return to the queue by themselves)."""
        self._stopping.set()
        channel, queue = self._channel, self._queue
        if channel is None or queue is None:
            return
        if self._tag is not None and not channel.is_closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(queue.cancel(self._tag), _STOP_SECONDS)
        if self._in_hand:
            await asyncio.wait(list(self._in_hand), timeout=_STOP_SECONDS)
        if not channel.is_closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(channel.close(), _STOP_SECONDS)

    def status(self) -> dict[str, Any]:
        waiting = sorted({h.waiting_for for h in self._in_hand.values() if h.waiting_for})
        return {"in_hand": len(self._in_hand), "waiting_for": waiting}

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        task = asyncio.current_task()
        assert task is not None
        held = self._in_hand[task] = _Held()
        try:
            await self._settle(message, held)
        finally:
            self._in_hand.pop(task, None)

    async def _settle(self, message: AbstractIncomingMessage, held: _Held) -> None:
        started = time.perf_counter()
        context: dict[str, Any] = {"message_id": message.message_id}
        try:
            try:
                submission = read_submission(message.body)
            except SubmissionRefused as unread:
                await self._refuse(message, unread, context)
                return
            context |= {"type": submission.message.type, "id": str(submission.message.id)}
            try:
                job = await self._through_outages(held, lambda: self._submit(submission), context)
            except ApiError as exc:
                invalid = SubmissionRefused("invalid_request", exc, submission.message.id)
                await self._refuse(message, invalid, context)
                return
            except (_HandBack, asyncio.CancelledError):
                raise
            except Exception as exc:
                await self._failed(message, submission, exc, context)
                return
            await self._reply(message, _accepted(submission, job))
            await message.ack()
            outcome = "replayed" if job.submission.replayed else "created"
            self._metrics.submissions.labels(submission.message.type, "accepted", outcome).inc()
            log.info(
                "submission accepted",
                extra={
                    **context,
                    "job_id": str(job.job_id),
                    "replayed": job.submission.replayed,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )
        except _HandBack:
            await self._hand_back(message, context)
        except asyncio.CancelledError:
            # The channel closed (the broker went away) or the API is stopping: unacknowledged,
            # the delivery returns to the queue.
            with contextlib.suppress(Exception):
                await message.nack(requeue=True)
            raise
        except Exception as exc:
            if unreachable_server(exc) != "rabbitmq":
                raise
            log.warning(
                "broker lost before the submission was answered; it will be delivered again",
                extra={**context, "error": f"{type(exc).__name__}: {exc}"},
            )

    async def _submit(self, submission: Submission) -> SubmittedJob:
        message = submission.message
        return await _within(
            self._attempt_seconds,
            lambda: submit_job(
                self._pool,
                message.kind,
                submission.request,
                key=str(message.id),
                key_field="id",
                submission_id=message.id,
                with_view=False,
                numbers_checked=True,  # the whole message was checked when it was read
            ),
        )

    async def _through_outages(
        self,
        held: _Held,
        attempt: Callable[[], Awaitable[T]],
        context: dict[str, Any],
    ) -> T:
        """`attempt()`'s result, retried with backoff while PostgreSQL is away or stalled;
        raises _HandBack to stop holding the delivery, or the attempt's own failure."""
        retry = 0
        while True:
            try:
                result = await attempt()
                held.waiting_for = None
                return result
            except _Stalled:
                server: Server | None = "postgres"
                error = "no answer within the attempt's deadline"
            except Exception as exc:
                server = unreachable_server(exc)
                if server is None:
                    raise
                error = f"{type(exc).__name__}: {exc}"
            if self._stopping.is_set() or time.monotonic() - held.since > HOLD_LIMIT_SECONDS:
                raise _HandBack
            pause = OUTAGE_BACKOFF.delay(retry)
            retry += 1
            log.warning(
                f"{server} unavailable, the submission is held and retried",
                extra={**context, "server": server, "error": error, "retry_in_s": pause},
            )
            held.waiting_for = server
            if await sleep_unless(self._stopping, pause):
                raise _HandBack

    async def _refuse(
        self,
        message: AbstractIncomingMessage,
        refused: SubmissionRefused,
        context: dict[str, Any],
    ) -> None:
        """Answer the refusal (where there is someone to answer) and acknowledge it."""
        error = refused.error
        rejection = SubmissionRejected(
            id=refused.submission_id,
            error=ErrorBody(code=error.code, message=error.message, details=error.details),
        )
        await self._reply(message, rejection)
        await message.ack()
        kind = context.get("type", "unknown")
        self._metrics.submissions.labels(kind, "rejected", refused.reason).inc()
        log.warning(
            "submission rejected",
            extra={**context, "reason": refused.reason, "error": error.message[:500]},
        )

    async def _failed(
        self,
        message: AbstractIncomingMessage,
        submission: Submission,
        failure: Exception,
        context: dict[str, Any],
    ) -> None:
        """The API's own failure: requeued after a pause, and on the last allowed delivery
        answered `internal` and dead-lettered."""
        headers: dict[str, Any] = message.headers or {}
        attempt = int(headers.get("x-delivery-count", 0) or 0) + 1
        detail = f"{type(failure).__name__}: {failure}"
        if attempt < DELIVERY_LIMIT:
            log.warning(
                "submission failed, requeued after a pause",
                extra={**context, "attempt": attempt, "error": detail},
                exc_info=failure,
            )
            await sleep_unless(self._stopping, OWN_FAILURE_BACKOFF.delay(attempt - 1))
            await message.nack(requeue=True)
            return
        log.error("submission failed for the last time", extra=context, exc_info=failure)
        rejection = SubmissionRejected(
            id=submission.message.id,
            error=ErrorBody(
                code="internal",
                message="the submission could not be handled; it was dead-lettered",
                details=[],
            ),
        )
        await self._reply(message, rejection)
        await message.reject(requeue=False)
        self._metrics.submissions.labels(submission.message.type, "rejected", "internal").inc()

    async def _reply(self, message: AbstractIncomingMessage, answer: Message) -> None:
        """Publish the answer to `reply_to` with the same `correlation_id`, and wait for the
        broker's confirm; a message without `reply_to` wants no answer."""
        if not message.reply_to or self._channel is None:
            return
        await self._channel.default_exchange.publish(
            aio_pika.Message(
                answer.model_dump_json().encode(),
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                correlation_id=message.correlation_id,
                message_id=str(answer.id) if answer.id is not None else None,
                type=answer.type,
            ),
            routing_key=message.reply_to,
        )

    async def _hand_back(self, message: AbstractIncomingMessage, context: dict[str, Any]) -> None:
        """Queue a copy (same body and properties, a fresh delivery count), then acknowledge
        this delivery; if the broker is away too, the delivery returns to the queue anyway."""
        try:
            assert self._channel is not None
            headers = {k: v for k, v in (message.headers or {}).items() if k != "x-delivery-count"}
            copy = aio_pika.Message(
                message.body,
                headers=headers,
                content_type=message.content_type,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                correlation_id=message.correlation_id,
                reply_to=message.reply_to,
                message_id=message.message_id,
                type=message.type,
            )
            await self._channel.default_exchange.publish(
                copy, routing_key=self._topology.submissions
            )
            await message.ack()
            log.info("submission handed back to the queue", extra=context)
        except Exception as exc:
            log.warning(
                "could not hand the submission back",
                extra={**context, "error": f"{type(exc).__name__}: {exc}"},
            )
            with contextlib.suppress(Exception):
                await message.nack(requeue=True)


def _accepted(submission: Submission, job: SubmittedJob) -> SubmissionAccepted:
    ref = JobRef(kind=job.form.kind, id=job.job_id, status=job.status, location=job.location)
    return SubmissionAccepted(id=submission.message.id, job=ref)


SUBMISSIONS = web.AppKey("submissions", SubmissionConsumer)
