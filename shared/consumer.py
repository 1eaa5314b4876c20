"""Consuming a queue: each delivery handled, then acknowledged, retried, handed back or
dead-lettered. `QueueConsumer` is the one loop (the engine's and the ingest's command queues
through `Consumer`, the API's job submissions through its own `_settle`).

Two kinds of failure are told apart (see shared.dependencies):
- PostgreSQL or RabbitMQ away (or a call that stalled past its deadline): the consumer holds
  the message and retries its handling with backoff until the server is back. That costs none
  of the message's deliveries; a message held too long, or held when the service stops, is
  handed back as a fresh copy (also free), so failing or handing back a job never needs the
  database at that moment.
- The message failing by itself: requeued after a growing pause, and on its last allowed
  delivery settled for good (a command's job is failed by `give_up`, itself retried through
  outages, and the message dead-lettered).
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import aiormq
from aio_pika.abc import AbstractChannel, AbstractQueue, AbstractRobustChannel
from aiormq.abc import DeliveredMessage
from pydantic import ValidationError

from shared.ack_batches import AckBatches
from shared.amqp import DELIVERY_LIMIT, Publisher
from shared.dependencies import OUTAGE_BACKOFF, Backoff, Server, sleep_unless, unreachable_server
from shared.messages import Message

log = logging.getLogger(__name__)

T = TypeVar("T")
M = TypeVar("M", bound=Message)
Handler = Callable[[M], Awaitable[None]]
GiveUp = Callable[[M, str], Awaitable[None]]

# The pause before a message that failed by itself is delivered again (0.25, 0.5, 1, 2 s).
OWN_FAILURE_BACKOFF = Backoff(first=0.25, cap=4.0)
# Held through an outage this long, a message is handed back, well before RabbitMQ's consumer
# timeout (30 minutes by default) would close the channel over it.
HOLD_LIMIT_SECONDS = 600.0
_CANCEL_SECONDS = 5.0


class HandBack(Exception):
    """Stop holding this message: give it back to the queue without spending a delivery."""


@dataclass
class InHand:
    """A delivery being handled: since when, and which server it waits for, if any."""

    since: float = field(default_factory=time.monotonic)
    waiting_for: Server | None = None
    settled: bool = False  # acknowledged, requeued or rejected


def _delivery_count(message: DeliveredMessage) -> int:
    """How many times this message was delivered before (quorum queues count it for us)."""
    headers: dict[str, Any] = message.header.properties.headers or {}
    return int(headers.get("x-delivery-count", 0) or 0)


def _delivery_tag(message: DeliveredMessage) -> int:
    tag = message.delivery_tag
    assert tag is not None  # a consumed delivery (not a basic.get's empty answer)
    return tag


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class QueueConsumer:
    """One queue's deliveries in hand, what they wait for, and how each is settled; a subclass
    says what handling one is (`_settle`). With `batched_acks`, acknowledgements go out a run
    at a time (see shared.ack_batches).

    Deliveries come straight from aiormq (aio-pika's message wrapper, and the task it adds,
    cost more than the rest of reading a delivery); consuming resumes whenever the robust
    channel reopens, or after the broker cancelled the consumer."""

    def __init__(self, *, batched_acks: bool = False) -> None:
        self._queue: AbstractQueue | None = None
        self._channel: AbstractChannel | None = None
        self._tag: str | None = None
        self._stopping = asyncio.Event()
        self._in_hand: dict[asyncio.Task[Any], InHand] = {}
        self._acks = AckBatches() if batched_acks else None
        self._resubscribing: asyncio.Task[None] | None = None

    async def _consume(self, channel: AbstractChannel, queue: AbstractQueue) -> None:
        self._channel, self._queue = channel, queue
        await self._subscribe()
        if isinstance(channel, AbstractRobustChannel):
            channel.reopen_callbacks.add(self._resubscribe)

    async def _subscribe(self) -> None:
        assert self._channel is not None and self._queue is not None
        underlay = await self._channel.get_underlay_channel()
        underlay.on_consumer_cancel_callbacks.add(self._cancelled_by_broker)
        consumed = await underlay.basic_consume(self._queue.name, self._on_message)
        self._tag = consumed.consumer_tag

    async def _resubscribe(self, *_: Any) -> None:
        if not self._stopping.is_set():
            await self._subscribe()

    def _cancelled_by_broker(self, frame: aiormq.spec.Basic.Cancel) -> None:
        if frame.consumer_tag != self._tag or self._stopping.is_set():
            return
        self._tag = None
        self._resubscribing = asyncio.create_task(self._consume_again())

    async def _consume_again(self) -> None:
        """After the broker cancelled the consumer (its queue deleted, say): consume again; if
        that fails, the channel closes and consuming resumes when the robust channel reopens."""
        try:
            await self._resubscribe()
            log.warning("the broker cancelled the consumer; consuming again")
        except Exception as exc:
            log.warning(
                "the broker cancelled the consumer; consuming resumes once the channel reopens",
                extra={"error": _describe(exc)},
            )

    async def stop(self, at_most: float | None = None) -> None:
        """Take no new deliveries; finish those in hand (for at most `at_most` seconds), handing
        back any held by an outage."""
        self._stopping.set()
        if self._tag is not None and self._channel is not None:
            try:
                underlay = await asyncio.wait_for(
                    self._channel.get_underlay_channel(), _CANCEL_SECONDS
                )
                await asyncio.wait_for(underlay.basic_cancel(self._tag), _CANCEL_SECONDS)
            except Exception as exc:  # broker away: its deliveries return to the queue anyway
                log.warning("could not cancel the consumer", extra={"error": _describe(exc)})
        if self._in_hand:
            await asyncio.wait(list(self._in_hand), timeout=at_most)
        if self._acks is not None:
            await self._acks.flush()

    @property
    def consuming(self) -> bool:
        channel = self._channel
        return (
            self._tag is not None
            and not self._stopping.is_set()
            and channel is not None
            and not channel.is_closed
        )

    def status(self) -> dict[str, Any]:
        waiting = sorted({d.waiting_for for d in self._in_hand.values() if d.waiting_for})
        return {"consuming": self.consuming, "in_hand": len(self._in_hand), "waiting_for": waiting}

    async def _on_message(self, message: DeliveredMessage) -> None:
        task = asyncio.current_task()
        assert task is not None
        held = self._in_hand[task] = InHand()
        if self._acks is not None:
            self._acks.received(message)
        try:
            await self._settle(message, held)
        finally:
            self._in_hand.pop(task, None)

    async def _settle(self, message: DeliveredMessage, held: InHand) -> None:
        """Handle `message` and settle it (`_settling` around the handling)."""
        raise NotImplementedError

    async def _settling(
        self,
        message: DeliveredMessage,
        held: InHand,
        context: dict[str, str],
        handle: Callable[[], Awaitable[None]],
        queue_copy: Callable[[], Awaitable[None]],
    ) -> None:
        """Run `handle` (which settles `message`); on HandBack, `queue_copy` and acknowledge.
        A broker lost midway leaves the message to be delivered again."""
        try:
            await handle()
        except HandBack:
            await self._hand_back(message, context, queue_copy)
        except asyncio.CancelledError:
            # The channel closed (the broker went away) or the process is shutting down.
            # If the channel closed, the delivery went back to the queue with it.
            if not held.settled:
                with contextlib.suppress(Exception):
                    await self._nack(message)
            raise
        except Exception as exc:
            if unreachable_server(exc) != "rabbitmq":
                raise
            log.warning(
                "broker lost before the message was settled; it will be delivered again",
                extra={**context, "error": _describe(exc)},
            )

    async def _through_outages(
        self, held: InHand, attempt: Callable[[], Awaitable[T]], context: dict[str, str]
    ) -> T:
        """`attempt()`'s result, retried with backoff while a server is away or stalled;
        raises the attempt's own failure, or HandBack to stop holding the message."""
        retry = 0
        while True:
            try:
                result = await attempt()
                held.waiting_for = None
                return result
            except Exception as exc:
                server = unreachable_server(exc)
                if server is None:
                    held.waiting_for = None
                    raise
                error = exc
            if self._stopping.is_set() or time.monotonic() - held.since > HOLD_LIMIT_SECONDS:
                raise HandBack
            pause = OUTAGE_BACKOFF.delay(retry)
            retry += 1
            log.warning(
                f"{server} unavailable, the message is held and retried",
                extra={**context, "server": server, "error": _describe(error), "retry_in_s": pause},
            )
            held.waiting_for = server
            if await sleep_unless(self._stopping, pause):
                raise HandBack

    async def _requeued_after_failure(
        self, message: DeliveredMessage, failure: Exception, context: dict[str, str]
    ) -> bool:
        """The message failed by itself: requeued after a growing pause (True), unless this
        was its last allowed delivery (False: the caller settles it for good)."""
        attempt = _delivery_count(message) + 1
        error = _describe(failure)
        if attempt >= DELIVERY_LIMIT:
            log.error(
                "message failed for the last time",
                extra={**context, "attempt": attempt, "error": error},
                exc_info=failure,
            )
            return False
        pause = OWN_FAILURE_BACKOFF.delay(attempt - 1)
        log.warning(
            "message failed, requeued after a pause",
            extra={**context, "attempt": attempt, "error": error, "pause_s": pause},
            exc_info=failure,
        )
        await sleep_unless(self._stopping, pause)
        await self._nack(message)
        return True

    async def _hand_back(
        self,
        message: DeliveredMessage,
        context: dict[str, str],
        queue_copy: Callable[[], Awaitable[None]],
    ) -> None:
        """Queue a fresh copy (with the full delivery limit) and acknowledge this one."""
        try:
            await queue_copy()
            await self._ack(message)
            log.info("message handed back to the queue", extra=context)
        except Exception as exc:
            # The broker is away too: the unacknowledged delivery returns to the queue by itself.
            log.warning(
                "could not hand the message back", extra={**context, "error": _describe(exc)}
            )
            with contextlib.suppress(Exception):
                await self._nack(message)

    # Settling: always from the delivery's own task (the one `_on_message` runs in).

    async def _ack(self, message: DeliveredMessage) -> None:
        if self._acks is None:
            await message.channel.basic_ack(_delivery_tag(message))
        else:
            self._acks.ack(message)
        self._settled()

    async def _nack(self, message: DeliveredMessage) -> None:
        """Back to the queue (a delivery spent)."""
        await message.channel.basic_nack(_delivery_tag(message), requeue=True)
        if self._acks is not None:
            self._acks.settled_otherwise(message)
        self._settled()

    async def _reject(self, message: DeliveredMessage) -> None:
        """To the dead letters."""
        await message.channel.basic_reject(_delivery_tag(message), requeue=False)
        if self._acks is not None:
            self._acks.settled_otherwise(message)
        self._settled()

    def _settled(self) -> None:
        task = asyncio.current_task()
        held = self._in_hand.get(task) if task is not None else None
        if held is not None:
            held.settled = True


class Consumer(QueueConsumer, Generic[M]):
    """A command queue's consumer: each message parsed as `model`, handled by `handler`, and
    on its last failed delivery its job failed by `give_up`."""

    def __init__(
        self,
        queue: AbstractQueue,
        channel: AbstractChannel,
        model: type[M],
        handler: Handler[M],
        give_up: GiveUp[M],
        publisher: Publisher,
    ) -> None:
        super().__init__()
        self.queue_name = queue.name
        self._queue, self._channel = queue, channel
        self._model = model
        self._handler = handler
        self._give_up = give_up
        self._publisher = publisher

    async def start(self) -> None:
        assert self._queue is not None and self._channel is not None
        await self._consume(self._channel, self._queue)

    def status(self) -> dict[str, Any]:
        return {"queue": self.queue_name, **super().status()}

    async def _settle(self, message: DeliveredMessage, held: InHand) -> None:
        """Acknowledged only after the handler returns (its results committed)."""
        started = time.perf_counter()
        try:
            parsed = self._model.model_validate_json(message.body)
        except ValidationError as exc:
            log.error("invalid message dead-lettered", extra={"error": str(exc)[:500]})
            await self._reject(message)
            return
        context = {"type": parsed.type, "id": str(parsed.id)}

        async def handle() -> None:
            try:
                await self._through_outages(held, lambda: self._handler(parsed), context)
            except HandBack:
                raise
            except Exception as failure:
                await self._failed(message, parsed, failure, held, context)
                return
            await self._ack(message)
            duration = round((time.perf_counter() - started) * 1000, 1)
            log.info("message handled", extra={**context, "duration_ms": duration})

        async def queue_copy() -> None:
            await self._publisher.send_raw("commands", parsed.type, str(parsed.id), message.body)

        await self._settling(message, held, context, handle, queue_copy)

    async def _failed(
        self,
        message: DeliveredMessage,
        parsed: M,
        failure: Exception,
        held: InHand,
        context: dict[str, str],
    ) -> None:
        if await self._requeued_after_failure(message, failure, context):
            return
        error = _describe(failure)
        try:
            await self._through_outages(held, lambda: self._give_up(parsed, error), context)
        except HandBack:
            raise
        except Exception as not_recorded:
            log.error(
                "the job's failure could not be recorded",
                extra={**context, "error": _describe(not_recorded)},
            )
        await self._reject(message)


async def consume(
    channel: AbstractChannel,
    queue_name: str,
    model: type[M],
    handler: Handler[M],
    give_up: GiveUp[M],
    publisher: Publisher,
    *,
    prefetch: int = 1,
) -> Consumer[M]:
    """Start consuming `queue_name` on `channel` with at most `prefetch` deliveries in hand."""
    await channel.set_qos(prefetch_count=prefetch)
    queue = await channel.get_queue(queue_name)
    consumer = Consumer(queue, channel, model, handler, give_up, publisher)
    await consumer.start()
    return consumer
