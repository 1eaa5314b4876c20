"""Consuming a command queue: each delivery handled, then acknowledged, retried or dead-lettered.

Two kinds of failure are told apart (see shared.dependencies):
- PostgreSQL or RabbitMQ away: the consumer holds the message and retries its handling with
  backoff until the server is back. That costs none of the message's deliveries; a message held
  too long, or held when the service stops, is handed back as a fresh copy (also free), so
  failing or handing back a job never needs the database at that moment.
- The message failing by itself: requeued after a growing pause, and on its last allowed
  delivery its job is failed (`give_up`, itself retried through outages) and it is dead-lettered.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue
from pydantic import ValidationError

from shared.amqp import DELIVERY_LIMIT, Publisher
from shared.dependencies import OUTAGE_BACKOFF, Backoff, Server, sleep_unless, unreachable_server
from shared.messages import Message

log = logging.getLogger(__name__)

M = TypeVar("M", bound=Message)
Handler = Callable[[M], Awaitable[None]]
GiveUp = Callable[[M, str], Awaitable[None]]

# The pause before a message that failed by itself is delivered again (0.25, 0.5, 1, 2 s).
OWN_FAILURE_BACKOFF = Backoff(first=0.25, cap=4.0)
# Held through an outage this long, a message is handed back, well before RabbitMQ's consumer
# timeout (30 minutes by default) would close the channel over it.
HOLD_LIMIT_SECONDS = 600.0
_CANCEL_SECONDS = 5.0


class _HandBack(Exception):
    """Stop holding this message: give it back to the queue without spending a delivery."""


@dataclass
class _Delivery:
    since: float = field(default_factory=time.monotonic)
    waiting_for: Server | None = None


def _delivery_count(message: AbstractIncomingMessage) -> int:
    """How many times this message was delivered before (quorum queues count it for us)."""
    headers: dict[str, Any] = message.headers or {}
    return int(headers.get("x-delivery-count", 0) or 0)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class Consumer(Generic[M]):
    """One queue's consumer, with what its deliveries in hand are waiting for."""

    def __init__(
        self,
        queue: AbstractQueue,
        channel: AbstractChannel,
        model: type[M],
        handler: Handler[M],
        give_up: GiveUp[M],
        publisher: Publisher,
    ) -> None:
        self.queue_name = queue.name
        self._queue = queue
        self._channel = channel
        self._model = model
        self._handler = handler
        self._give_up = give_up
        self._publisher = publisher
        self._tag: str | None = None
        self._stopping = asyncio.Event()
        self._in_hand: dict[asyncio.Task[Any], _Delivery] = {}

    async def start(self) -> None:
        self._tag = await self._queue.consume(self._on_message)

    async def stop(self) -> None:
        """Take no new deliveries; finish those in hand, handing back any held by an outage."""
        self._stopping.set()
        if self._tag is not None:
            try:
                await asyncio.wait_for(self._queue.cancel(self._tag), _CANCEL_SECONDS)
            except Exception as exc:  # broker away: its deliveries return to the queue anyway
                log.warning("could not cancel the consumer", extra={"error": _describe(exc)})
        if self._in_hand:
            await asyncio.wait(list(self._in_hand))

    def status(self) -> dict[str, Any]:
        waiting = sorted({d.waiting_for for d in self._in_hand.values() if d.waiting_for})
        return {
            "queue": self.queue_name,
            "consuming": self._tag is not None
            and not self._stopping.is_set()
            and not self._channel.is_closed,
            "in_hand": len(self._in_hand),
            "waiting_for": waiting,
        }

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        task = asyncio.current_task()
        assert task is not None
        delivery = _Delivery()
        self._in_hand[task] = delivery
        try:
            await self._settle(message, delivery)
        finally:
            self._in_hand.pop(task, None)

    async def _settle(self, message: AbstractIncomingMessage, delivery: _Delivery) -> None:
        """Acknowledged only after the handler returns (its results committed)."""
        started = time.perf_counter()
        try:
            parsed = self._model.model_validate_json(message.body)
        except ValidationError as exc:
            log.error("invalid message dead-lettered", extra={"error": str(exc)[:500]})
            await message.reject(requeue=False)
            return
        context = {"type": parsed.type, "id": str(parsed.id)}
        try:
            failure = await self._through_outages(delivery, lambda: self._handler(parsed), context)
            if failure is None:
                await message.ack()
                duration = round((time.perf_counter() - started) * 1000, 1)
                log.info("message handled", extra={**context, "duration_ms": duration})
            else:
                await self._failed(message, parsed, failure, delivery, context)
        except _HandBack:
            await self._hand_back(message, parsed, context)
        except asyncio.CancelledError:
            # The channel closed (the broker went away) or the process is shutting down.
            # If the channel closed, the delivery went back to the queue with it.
            with contextlib.suppress(Exception):
                await message.nack(requeue=True)
            raise
        except Exception as exc:
            if unreachable_server(exc) != "rabbitmq":
                raise
            log.warning(
                "broker lost before the message was settled; it will be delivered again",
                extra={**context, "error": _describe(exc)},
            )

    async def _failed(
        self,
        message: AbstractIncomingMessage,
        parsed: M,
        failure: Exception,
        delivery: _Delivery,
        context: dict[str, str],
    ) -> None:
        attempt = _delivery_count(message) + 1
        error = _describe(failure)
        if attempt < DELIVERY_LIMIT:
            pause = OWN_FAILURE_BACKOFF.delay(attempt - 1)
            log.warning(
                "message failed, requeued after a pause",
                extra={**context, "attempt": attempt, "error": error, "pause_s": pause},
                exc_info=failure,
            )
            await sleep_unless(self._stopping, pause)
            await message.nack(requeue=True)
            return
        log.error(
            "message failed for the last time",
            extra={**context, "attempt": attempt, "error": error},
            exc_info=failure,
        )
        not_recorded = await self._through_outages(
            delivery, lambda: self._give_up(parsed, error), context
        )
        if not_recorded is not None:
            log.error(
                "the job's failure could not be recorded",
                extra={**context, "error": _describe(not_recorded)},
            )
        await message.reject(requeue=False)

    async def _through_outages(
        self, delivery: _Delivery, attempt: Callable[[], Awaitable[None]], context: dict[str, str]
    ) -> Exception | None:
        """Run `attempt` until it succeeds (None) or fails by itself (its exception), retrying
        with backoff while a server is away. Raises _HandBack to stop holding the message."""
        retry = 0
        while True:
            try:
                await attempt()
                delivery.waiting_for = None
                return None
            except Exception as exc:
                server = unreachable_server(exc)
                if server is None:
                    delivery.waiting_for = None
                    return exc
                error = exc
            if self._stopping.is_set() or time.monotonic() - delivery.since > HOLD_LIMIT_SECONDS:
                raise _HandBack
            pause = OUTAGE_BACKOFF.delay(retry)
            retry += 1
            log.warning(
                f"{server} unavailable, the message is held and retried",
                extra={**context, "server": server, "error": _describe(error), "retry_in_s": pause},
            )
            delivery.waiting_for = server
            if await sleep_unless(self._stopping, pause):
                raise _HandBack

    async def _hand_back(
        self, message: AbstractIncomingMessage, parsed: M, context: dict[str, str]
    ) -> None:
        """Queue a fresh copy (with the full delivery limit) and acknowledge this one."""
        try:
            await self._publisher.send_raw("commands", parsed.type, str(parsed.id), message.body)
            await message.ack()
            log.info("message handed back to the queue", extra=context)
        except Exception as exc:
            # The broker is away too: the unacknowledged delivery returns to the queue by itself.
            log.warning(
                "could not hand the message back", extra={**context, "error": _describe(exc)}
            )
            with contextlib.suppress(Exception):
                await message.nack(requeue=True)


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
