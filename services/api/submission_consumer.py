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
Every outcome is logged with its reason and counted in /metrics. Holding, handing back and
requeueing are shared.consumer's loop, as for every queue; acknowledgements go out in runs.
"""

import asyncio
import contextlib
import logging
import time

import aio_pika
import asyncpg
from aio_pika.abc import AbstractRobustConnection
from aiohttp import web
from aiormq.abc import DeliveredMessage

from services.api.commit_groups import CommitGroups
from services.api.errors import ApiError
from services.api.job_submission import SubmittedJob, submit_job
from services.api.prometheus import ApiMetrics
from services.api.submission_reading import Submission, SubmissionRefused, read_submission
from shared.amqp import Topology, json_properties, publish
from shared.consumer import HandBack, InHand, QueueConsumer
from shared.db import SharedReads
from shared.dependencies import within
from shared.messages import Message
from shared.submissions import (
    ErrorBody,
    JobRef,
    SubmissionAccepted,
    SubmissionRejected,
)

log = logging.getLogger(__name__)

# Submissions handled at once by one API process (their acknowledgements go out in runs, so
# a few more than the producers keep in flight).
PREFETCH = 64
# One attempt at a submission (its reads and its commit) waits at most this long for the
# database; a stalled one is then retried as an outage (the same id: never a second job).
ATTEMPT_SECONDS = 10.0
_STOP_SECONDS = 5.0


class SubmissionConsumer(QueueConsumer):
    def __init__(
        self,
        pool: asyncpg.Pool,
        topology: Topology,
        metrics: ApiMetrics,
        *,
        prefetch: int = PREFETCH,
        attempt_seconds: float = ATTEMPT_SECONDS,
        reads: SharedReads | None = None,
    ) -> None:
        super().__init__(batched_acks=True)
        self._pool = pool
        self._topology = topology
        self._metrics = metrics
        self._prefetch = prefetch
        self._attempt_seconds = attempt_seconds
        self._commits = CommitGroups(pool)
        # Submissions in hand at once (a producer's burst, often of one series) share their
        # checks' identical reads (with the POSTs', the API's), as they share their commits.
        self._reads = reads or SharedReads(pool)

    async def start(self, connection: AbstractRobustConnection) -> None:
        """Consume on a channel of its own (a robust one: it resumes after a reconnect)."""
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=self._prefetch)
        await self._topology.declare(channel)
        queue = await channel.get_queue(self._topology.submissions)
        await self._consume(channel, queue)
        log.info("consuming submissions", extra={"queue": self._topology.submissions})

    async def stop(self, at_most: float | None = _STOP_SECONDS) -> None:
        """Take no new submissions; finish those in hand, handing back any held by an outage.
        Every call to the broker is bounded: with the broker away, stopping does not wait
        for it (unacknowledged deliveries return to the queue by themselves)."""
        await super().stop(at_most)
        channel = self._channel
        if channel is not None and not channel.is_closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(channel.close(), _STOP_SECONDS)

    async def _settle(self, message: DeliveredMessage, held: InHand) -> None:
        started = time.perf_counter()
        context: dict[str, str] = {"message_id": message.header.properties.message_id or ""}

        async def handle() -> None:
            try:
                submission = read_submission(message.body)
            except SubmissionRefused as unread:
                await self._refuse(message, unread, context)
                return
            context.update(type=submission.message.type, id=str(submission.message.id))
            try:
                job = await self._through_outages(held, lambda: self._submit(submission), context)
            except ApiError as exc:
                invalid = SubmissionRefused("invalid_request", exc, submission.message.id)
                await self._refuse(message, invalid, context)
                return
            except HandBack:
                raise
            except Exception as exc:
                await self._failed(message, submission, exc, context)
                return
            await self._reply(message, _accepted(submission, job))
            await self._ack(message)
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

        await self._settling(message, held, context, handle, lambda: self._queue_copy(message))

    async def _submit(self, submission: Submission) -> SubmittedJob:
        message = submission.message
        return await within(
            self._attempt_seconds,
            "postgres",
            lambda: submit_job(
                self._pool,
                message.kind,
                submission.request,
                key=str(message.id),
                key_field="id",
                submission_id=message.id,
                with_view=False,
                numbers_checked=True,  # the whole message was checked when it was read
                commits=self._commits,
                reads=self._reads,
            ),
        )

    async def _refuse(
        self,
        message: DeliveredMessage,
        refused: SubmissionRefused,
        context: dict[str, str],
    ) -> None:
        """Answer the refusal (where there is someone to answer) and acknowledge it."""
        error = refused.error
        rejection = SubmissionRejected(
            id=refused.submission_id,
            error=ErrorBody(code=error.code, message=error.message, details=error.details),
        )
        await self._reply(message, rejection)
        await self._ack(message)
        kind = context.get("type", "unknown")
        self._metrics.submissions.labels(kind, "rejected", refused.reason).inc()
        log.warning(
            "submission rejected",
            extra={**context, "reason": refused.reason, "error": error.message[:500]},
        )

    async def _failed(
        self,
        message: DeliveredMessage,
        submission: Submission,
        failure: Exception,
        context: dict[str, str],
    ) -> None:
        """The API's own failure: requeued after a pause, and on the last allowed delivery
        answered `internal` and dead-lettered."""
        if await self._requeued_after_failure(message, failure, context):
            return
        rejection = SubmissionRejected(
            id=submission.message.id,
            error=ErrorBody(
                code="internal",
                message="the submission could not be handled; it was dead-lettered",
                details=[],
            ),
        )
        await self._reply(message, rejection)
        await self._reject(message)
        self._metrics.submissions.labels(submission.message.type, "rejected", "internal").inc()

    async def _reply(self, message: DeliveredMessage, answer: Message) -> None:
        """Publish the answer to `reply_to` with the same `correlation_id`, and wait for the
        broker's confirm; a message without `reply_to` wants no answer."""
        asked = message.header.properties
        if not asked.reply_to:
            return
        properties = json_properties(
            answer.type, str(answer.id) if answer.id is not None else None, asked.correlation_id
        )
        # On the channel the submission came by (the default exchange routes to `reply_to`).
        await publish(
            message.channel, answer.model_dump_json().encode(), "", asked.reply_to, properties
        )

    async def _queue_copy(self, message: DeliveredMessage) -> None:
        """A copy of `message` (same body and properties, a fresh delivery count) queued."""
        assert self._channel is not None
        asked = message.header.properties
        headers = {k: v for k, v in (asked.headers or {}).items() if k != "x-delivery-count"}
        copy = aio_pika.Message(
            message.body,
            headers=headers,
            content_type=asked.content_type,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            correlation_id=asked.correlation_id,
            reply_to=asked.reply_to,
            message_id=asked.message_id,
            type=asked.message_type,
        )
        await self._channel.default_exchange.publish(copy, routing_key=self._topology.submissions)


def _accepted(submission: Submission, job: SubmittedJob) -> SubmissionAccepted:
    ref = JobRef(kind=job.form.kind, id=job.job_id, status=job.status, location=job.location)
    return SubmissionAccepted(id=submission.message.id, job=ref)


SUBMISSIONS = web.AppKey("submissions", SubmissionConsumer)
