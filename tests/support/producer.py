"""A message-queue producer for tests: publishes submissions to the submit exchange with a
reply queue of its own, and waits (with a deadline) for the answers."""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import orjson
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue

from shared.amqp import SUBMIT_ROUTING_KEY, Topology


class TestProducer:
    __test__ = False  # not a test class

    def __init__(
        self, channel: AbstractChannel, topology: Topology, replies: AbstractQueue
    ) -> None:
        self.channel = channel
        self.topology = topology
        self.replies = replies
        self._answers: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.unexpected: list[AbstractIncomingMessage] = []

    async def start(self) -> None:
        await self.replies.consume(self._on_reply, no_ack=True)

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        waiting = self._answers.get(message.correlation_id or "")
        if waiting is None or waiting.done():
            self.unexpected.append(message)
            return
        waiting.set_result(orjson.loads(message.body))

    async def publish(self, body: bytes, *, reply: bool = True) -> str:
        """Publish raw bytes (persistent, confirmed); returns the correlation id to wait on."""
        correlation_id = uuid.uuid4().hex
        self._answers[correlation_id] = asyncio.get_running_loop().create_future()
        exchange = await self.channel.get_exchange(self.topology.submit)
        await exchange.publish(
            aio_pika.Message(
                body,
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                correlation_id=correlation_id,
                reply_to=self.replies.name if reply else None,
            ),
            routing_key=SUBMIT_ROUTING_KEY,
        )
        return correlation_id

    async def answer(self, correlation_id: str, within: float = 60) -> dict[str, Any]:
        return await asyncio.wait_for(asyncio.shield(self._answers[correlation_id]), within)

    def answered(self, correlation_id: str) -> bool:
        return self._answers[correlation_id].done()

    async def submit(
        self, type_: str, request: Any, submission_id: uuid.UUID | None = None
    ) -> dict[str, Any]:
        """Submit and wait for the answer."""
        envelope = {
            "type": type_,
            "version": 1,
            "id": str(submission_id or uuid.uuid4()),
            "request": request,
        }
        return await self.answer(await self.publish(orjson.dumps(envelope)))


@contextlib.asynccontextmanager
async def producer(amqp_url: str, topology: Topology) -> AsyncIterator[TestProducer]:
    """A producer with an exclusive reply queue; the submit exchange declared (as the API
    would) so that publishing before the API has connected does not fail."""
    connection = await aio_pika.connect_robust(amqp_url)
    try:
        channel = await connection.channel()
        await topology.declare(channel)
        replies = await channel.declare_queue(exclusive=True)
        test_producer = TestProducer(channel, topology, replies)
        await test_producer.start()
        yield test_producer
    finally:
        await connection.close()
