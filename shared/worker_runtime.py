"""What every queue-consuming service opens: database, broker, publisher, outbox relay.

Each server is waited for (with backoff, logging what is awaited) rather than failing the start.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
from aio_pika.abc import AbstractRobustConnection

from shared.amqp import Publisher, Topology, connect
from shared.db import create_pool
from shared.dependencies import wait_for
from shared.migrate import migrate
from shared.outbox import run_relay
from shared.settings import Settings


@dataclass(frozen=True)
class WorkerRuntime:
    pool: asyncpg.Pool
    connection: AbstractRobustConnection
    topology: Topology
    publisher: Publisher


async def _open_broker(url: str, topology: Topology) -> tuple[AbstractRobustConnection, Publisher]:
    connection = await connect(url)
    try:
        channel = await connection.channel()
        await topology.declare(channel)
        return connection, await Publisher.open(channel, topology)
    except BaseException:
        await connection.close()
        raise


@contextlib.asynccontextmanager
async def worker_runtime(
    settings: Settings, stopping: asyncio.Event | None = None
) -> AsyncIterator[WorkerRuntime]:
    """Migrate, connect, declare the topology and relay the outbox until the block exits.

    Raises StoppedWhileWaiting if `stopping` is set while a server is still awaited."""
    url = settings.database_url
    await wait_for("postgres", lambda: migrate(url), stopping=stopping)
    timeout = settings.worker_statement_timeout_seconds
    pool = await wait_for(
        "postgres", lambda: create_pool(url, statement_timeout=timeout), stopping=stopping
    )
    try:
        topology = Topology(settings.amqp_prefix)
        connection, publisher = await wait_for(
            "rabbitmq", lambda: _open_broker(settings.amqp_url, topology), stopping=stopping
        )
        try:
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
