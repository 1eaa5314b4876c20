"""Acknowledgements sent in runs against the real RabbitMQ: a multiple ack never covers a
delivery still in hand (or one requeued), and every acknowledged delivery is settled."""

import asyncio

import aio_pika
import pytest
from aio_pika.abc import AbstractIncomingMessage

from shared.ack_batches import AckBatches
from shared.settings import Settings
from tests.support.broker import ready_messages

pytestmark = pytest.mark.integration


# Acks waiting behind a delivery in hand: kept back (returned when the channel closes with 4
# and 9), or sent one by one once they waited too long (only 4 and 9 return).
@pytest.mark.parametrize(("longest_wait", "returned"), [(60.0, 8), (0.05, 2)])
async def test_acks_in_runs_leave_the_deliveries_in_hand_unsettled(
    settings: Settings, longest_wait: float, returned: int
) -> None:
    name = f"{settings.amqp_prefix}.acks"
    delivered: list[AbstractIncomingMessage] = []
    connection = await aio_pika.connect(settings.amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(name, auto_delete=False)
        for n in range(12):
            await channel.default_exchange.publish(aio_pika.Message(str(n).encode()), name)
        got_all = asyncio.Event()

        async def take(message: AbstractIncomingMessage) -> None:
            delivered.append(message)
            acks.received(message)
            if len(delivered) >= 12:
                got_all.set()

        acks = AckBatches(gather=0.01, longest_wait=longest_wait)
        await queue.consume(take)
        await asyncio.wait_for(got_all.wait(), 30)
        by_body = {int(m.body): m for m in delivered}
        # Acknowledged out of order; 4 is still in hand, 9 was requeued by itself.
        for n in (7, 0, 2, 1, 3, 5, 6, 8, 10, 11):
            acks.ack(by_body[n])
        await by_body[9].nack(requeue=True)
        acks.settled_otherwise(by_body[9])
        await asyncio.sleep(0.3)
        await acks.flush()
        # 0-3 go in one run (4 is in hand); a double or unknown ack would close the channel.
        assert not channel.is_closed
        await channel.close()
    # Closing the channel returns what was not acknowledged: 4 and 9 (requeued, delivered
    # again, in hand), and those kept back behind 4 (5-8, 10, 11) unless sent by themselves.
    try:
        assert await ready_messages(settings.amqp_url, name) == returned
    finally:
        async with await aio_pika.connect(settings.amqp_url) as cleanup:
            await (await cleanup.channel()).queue_delete(name)
