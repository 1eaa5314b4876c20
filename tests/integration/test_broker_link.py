"""The API's broker link stopped while it declares the topology leaves no connection behind: a
robust connection left open reopens its channel and declares the queues again, after a test or
an operator deleted them."""

import asyncio
import contextlib
import subprocess
import uuid

import aio_pika
import aiormq
import asyncpg
import pytest

from devtools.waiting import poll_until
from services.api.broker_link import BrokerLink
from shared.amqp import Topology
from shared.settings import Settings

pytestmark = pytest.mark.integration


def _connections_named(name: str) -> int:
    listed = subprocess.run(
        ["rabbitmqctl", "list_connections", "-q", "client_properties"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    return listed.count(name)


async def _queue_exists(connection: aio_pika.abc.AbstractConnection, name: str) -> bool:
    channel = await connection.channel()
    try:
        await channel.declare_queue(name, passive=True)
    except aiormq.exceptions.ChannelNotFoundEntity:
        return False
    await channel.close()
    return True


async def test_a_link_stopped_mid_declare_closes_its_connection(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    topology = Topology(settings.amqp_prefix)
    name = f"test-link-{uuid.uuid4().hex[:12]}"
    link = BrokerLink(f"{settings.amqp_url}?name={name}", topology)
    async with await aio_pika.connect(settings.amqp_url) as observer:
        relay = asyncio.create_task(link.run_relay(pool))
        # Stop it as soon as the first queue is there: the rest are still being declared.
        await poll_until(
            lambda: _queue_exists(observer, topology.dead_letters), within=60, every=0.001
        )
        relay.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await relay
        await link.close()
    assert link.connection is None
    assert await asyncio.to_thread(_connections_named, name) == 0
