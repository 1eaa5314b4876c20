"""The API's link to RabbitMQ: connects in the background and keeps relaying the outbox.

The API starts and accepts jobs while the broker is down; their messages wait in the outbox.
Live events (job progress) go out directly, and are dropped while the broker is away.
"""

import asyncio
import logging

import asyncpg
from aio_pika.abc import AbstractRobustConnection

from shared.amqp import Publisher, Topology, connect
from shared.messages import JobEvent
from shared.outbox import run_relay

log = logging.getLogger(__name__)

_RETRY_SECONDS = 1.0
# A live event not confirmed within this long is given up (the next one tells more).
_LIVE_EVENT_SECONDS = 2.0


class BrokerLink:
    def __init__(self, url: str, topology: Topology) -> None:
        self._url = url
        self._topology = topology
        self._connection: AbstractRobustConnection | None = None
        self._publisher: Publisher | None = None

    @property
    def is_up(self) -> bool:
        connection = self._connection
        return connection is not None and not connection.is_closed and connection.connected.is_set()

    async def run_relay(self, pool: asyncpg.Pool) -> None:
        """Connect (retrying), then publish pending outbox rows for as long as the API runs."""
        while self._publisher is None:
            try:
                await self._connect()
            except Exception as exc:  # broker not there yet: the outbox keeps the jobs
                log.warning("broker unavailable", extra={"error": f"{type(exc).__name__}: {exc}"})
                await asyncio.sleep(_RETRY_SECONDS)
        await run_relay(pool, self._publisher, ready=lambda: self.is_up)

    async def _connect(self) -> None:
        connection = await connect(self._url)
        try:
            channel = await connection.channel()
            await self._topology.declare(channel)
            publisher = await Publisher.open(channel, self._topology)
        except BaseException:
            # Cancelled mid-declare (the API stopping) or failed: a robust connection left open
            # would reopen the channel and declare the queues again, after they were deleted.
            await connection.close()
            raise
        self._connection = connection
        self._publisher = publisher
        log.info("broker connected")

    @property
    def connection(self) -> AbstractRobustConnection | None:
        """The connection, once made (a robust one: it reconnects by itself)."""
        return self._connection

    async def publish_live(self, event: JobEvent) -> None:
        """Publish an event that is worth nothing later; dropped if the broker is away."""
        publisher = self._publisher
        if publisher is None or not self.is_up:
            return
        try:
            await asyncio.wait_for(publisher.publish_event(event), _LIVE_EVENT_SECONDS)
        except Exception as exc:  # broker away or slow: the next change is told instead
            log.info("live event dropped", extra={"error": f"{type(exc).__name__}: {exc}"})

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
