"""Reading the tests' RabbitMQ queues, waiting for what is expected rather than assuming it
has arrived."""

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue

from devtools.waiting import poll_until


async def next_message(queue: AbstractQueue, within: float = 30) -> AbstractIncomingMessage:
    """The next message on `queue`, waiting for one to arrive (a basic.get does not wait)."""
    message = await poll_until(
        lambda: queue.get(fail=False), lambda m: m is not None, within=within, what=queue.name
    )
    assert message is not None
    return message


async def ready_messages(amqp_url: str, queue_name: str) -> int:
    """Messages waiting on the queue, not yet delivered to a consumer."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(queue_name, passive=True)
        return queue.declaration_result.message_count or 0
