"""What every queue-consuming service opens: database, broker, publisher, outbox relay."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
from aio_pika.abc import AbstractRobustConnection

from shared.amqp import Publisher, Topology, connect
from shared.db import create_pool
from shared.migrate import migrate
from shared.outbox import run_relay
from shared.settings import Settings


@dataclass(frozen=True)
class WorkerRuntime:
    pool: asyncpg.Pool
    connection: AbstractRobustConnection
    topology: Topology
    publisher: Publisher


@contextlib.asynccontextmanager
async def worker_runtime(settings: Settings) -> AsyncIterator[WorkerRuntime]:
    """Migrate, connect, declare the topology and relay the outbox until the block exits."""
    await migrate(settings.database_url)
    pool = await create_pool(settings.database_url)
    try:
        connection = await connect(settings.amqp_url)
        try:
            channel = await connection.channel()
            topology = Topology(settings.amqp_prefix)
            await topology.declare(channel)
            publisher = await Publisher.open(channel, topology)
            relay = asyncio.create_task(run_relay(pool, publisher))
            try:
                yield WorkerRuntime(pool, connection, topology, publisher)
            finally:
                relay.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await relay
        finally:
            await connection.close()
    finally:
        await pool.close()
