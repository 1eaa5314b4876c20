"""Job status and progress for the API's event stream: one hub per API process, fed by the job
events on RabbitMQ and by one database poll a second, whatever the number of clients. The poll
also publishes what it sees change (a job queued, running, progressing) to the events exchange
as `<kind>.progress`, at most once a second per job, for producers that bind a queue there.

Each change of a job's state becomes one numbered event kept in a bounded ring buffer, so a
client that reconnects with `Last-Event-ID` gets what it missed.
"""

import asyncio
import contextlib
import logging
import uuid
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aio_pika
import asyncpg
import orjson
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection
from aiohttp import web

from shared.amqp import Topology, connect
from shared.jobs import ACTIVE_STATUSES, JOB_TABLES, TERMINAL_STATUSES
from shared.messages import JobProgressed, Progress
from shared.repos import jobs as jobs_repo

log = logging.getLogger(__name__)

BUFFER_EVENTS = 1000
POLL_SECONDS = 1.0
_REMEMBERED_JOBS = 10_000
_RETRY_SECONDS = 2.0


@dataclass(frozen=True)
class JobEvent:
    seq: int
    data: dict[str, Any]


class JobEventHub:
    """The ring buffer of job events and the wake-up of the streams waiting for the next."""

    def __init__(self, capacity: int = BUFFER_EVENTS) -> None:
        # Ids are `<epoch>-<seq>`: an id from before a restart is recognised and not trusted.
        self.epoch = uuid.uuid4().hex[:8]
        self._events: deque[JobEvent] = deque(maxlen=capacity)
        self._seq = 0
        self._last_state: OrderedDict[tuple[str, str], tuple[Any, ...]] = OrderedDict()
        self._remembered_jobs = _REMEMBERED_JOBS
        self._wakeup = asyncio.Event()
        self.closed = False

    def close(self) -> None:
        """The API is stopping: every stream ends now rather than hold the shutdown."""
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        wakeup, self._wakeup = self._wakeup, asyncio.Event()
        wakeup.set()

    def remember_at_least(self, jobs: int) -> None:
        """Keep the states of `jobs` jobs on top of the usual memory: a poll that sees more live
        jobs than the hub remembers would forget each before it comes round again, and tell every
        one of them as changed, every second."""
        self._remembered_jobs = _REMEMBERED_JOBS + jobs

    def event_id(self, event: JobEvent) -> str:
        return f"{self.epoch}-{event.seq}"

    def record(
        self,
        kind: str,
        job_id: str,
        status: str,
        *,
        done: int | None = None,
        total: int | None = None,
        error: str | None = None,
        source: str,
    ) -> bool:
        """One event if the job's state changed since it was last told (True), else nothing."""
        key = (kind, job_id)
        state: tuple[Any, ...] = (status,) if status in TERMINAL_STATUSES else (status, done, total)
        if self._last_state.get(key) == state:
            return False
        self._last_state[key] = state
        self._last_state.move_to_end(key)
        while len(self._last_state) > self._remembered_jobs:
            self._last_state.popitem(last=False)
        progress = None if total is None else {"done": done, "total": total}
        self._seq += 1
        data = {"kind": kind, "id": job_id, "status": status, "progress": progress}
        data |= {"error": error, "source": source}
        self._events.append(JobEvent(self._seq, data))
        self._wake()
        return True

    def after(self, last_event_id: str | None) -> list[JobEvent]:
        """The buffered events after `last_event_id`; all of them for an id we cannot place."""
        epoch, _, seq = (last_event_id or "").partition("-")
        if epoch != self.epoch or not seq.isdigit():
            return list(self._events)
        return [event for event in self._events if event.seq > int(seq)]

    def latest_id(self) -> str | None:
        return self.event_id(self._events[-1]) if self._events else None

    async def wait(self, seconds: float) -> bool:
        """Until the next event is recorded (True), or `seconds` pass (False)."""
        try:
            await asyncio.wait_for(self._wakeup.wait(), seconds)
        except TimeoutError:
            return False
        return True


# Publishes a live job event (progress) to the events exchange, or drops it if the broker is away.
PublishLive = Callable[[JobProgressed], Awaitable[None]]


async def poll_jobs(
    hub: JobEventHub, pool: asyncpg.Pool, publish: PublishLive | None = None
) -> None:
    """Once a second, every live or just-ended job's status and progress, for all clients;
    a live job whose state changed is also published as `<kind>.progress`."""
    while True:
        try:
            rows = await jobs_repo.live_and_recent_jobs(pool)
            hub.remember_at_least(len(rows))
            for row in rows:
                changed = hub.record(
                    row["kind"],
                    str(row["id"]),
                    row["status"],
                    done=row["done"],
                    total=row["total"],
                    error=row["error"],
                    source="database",
                )
                if changed and publish is not None and row["status"] in ACTIVE_STATUSES:
                    await publish(_progressed(row))
        except Exception as exc:  # database away: the stream waits, the next poll catches up
            log.warning("polling job states failed", extra={"error": repr(exc)})
        await asyncio.sleep(POLL_SECONDS)


def _progressed(row: asyncpg.Record) -> JobProgressed:
    counted = row["total"] is not None
    return JobProgressed(
        job_id=row["id"],
        submission_id=row["submission_id"],
        kind=row["kind"],
        status=row["status"],
        progress=Progress(done=row["done"], total=row["total"]) if counted else None,
    )


def record_broker_event(hub: JobEventHub, message: AbstractIncomingMessage) -> None:
    """A job event from the events exchange (`kind`, `job_id`, `status`, maybe `progress` and
    `error`) into the hub; anything else there is ignored."""
    try:
        body = orjson.loads(message.body)
        kind, status = body["kind"], body["status"]
        job_id = str(uuid.UUID(str(body["job_id"])))
    except (orjson.JSONDecodeError, KeyError, ValueError, TypeError):
        log.warning("unreadable job event", extra={"type": message.type})
        return
    if kind not in JOB_TABLES or not isinstance(status, str):
        return
    progress = body.get("progress") if isinstance(body.get("progress"), dict) else {}
    hub.record(
        kind,
        job_id,
        status,
        done=progress.get("done"),
        total=progress.get("total"),
        error=body.get("error"),
        source="broker",
    )


async def consume_broker_events(hub: JobEventHub, url: str, topology: Topology) -> None:
    """A queue of this process's own (exclusive, deleted with it) bound to the events exchange."""
    connection: AbstractRobustConnection | None = None
    try:
        while connection is None:
            try:
                connection = await connect(url)
            except Exception as exc:  # broker not there yet: the poll still tells the states
                log.warning("event stream: broker unavailable", extra={"error": repr(exc)})
                await asyncio.sleep(_RETRY_SECONDS)
        channel = await connection.channel()
        exchange = await channel.declare_exchange(
            topology.events, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(exchange, routing_key="#")

        async def on_message(message: AbstractIncomingMessage) -> None:
            record_broker_event(hub, message)

        await queue.consume(on_message, no_ack=True)
        await asyncio.Future()  # consume until cancelled
    finally:
        if connection is not None:
            await connection.close()


async def running_hub(
    hub: JobEventHub,
    pool: asyncpg.Pool,
    url: str,
    topology: Topology,
    publish: PublishLive | None = None,
) -> AsyncIterator[None]:
    """The hub's feeds, started and stopped with the API."""
    tasks = [
        asyncio.create_task(poll_jobs(hub, pool, publish)),
        asyncio.create_task(consume_broker_events(hub, url, topology)),
    ]
    yield
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


JOB_EVENTS = web.AppKey("job_events", JobEventHub)
