"""Submitting backtests through the API, and following them in the database until settled."""

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import aio_pika
import aiohttp
import asyncpg

from shared.amqp import Topology
from shared.messages import Message, RunBacktest

_POLL_SECONDS = 0.1

_PROGRESS_SQL = """
SELECT count(*) AS jobs,
       count(*) FILTER (WHERE status = 'succeeded') AS succeeded,
       count(*) FILTER (WHERE status IN ('failed', 'cancelled')) AS failed,
       coalesce(min(error), '') AS first_error,
       min(created_at) AS first_created,
       max(finished_at) AS last_finished,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM started_at - created_at))
           AS median_queued_seconds,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - started_at))
           AS median_run_seconds
FROM backtests WHERE id = ANY($1::uuid[])
"""


@dataclass(frozen=True)
class JobsProgress:
    jobs: int
    succeeded: int
    failed: int
    first_error: str
    first_created: datetime | None
    last_finished: datetime | None
    median_queued_seconds: float | None
    median_run_seconds: float | None

    @property
    def settled(self) -> bool:
        return self.succeeded + self.failed == self.jobs

    @property
    def elapsed_seconds(self) -> float:
        """From the first job's creation to the last one's end, as the database recorded them."""
        if self.first_created is None or self.last_finished is None:
            return 0.0
        return (self.last_finished - self.first_created).total_seconds()


async def submit(
    api_url: str, bodies: list[dict[str, Any]], *, connections: int = 16
) -> list[UUID]:
    """POST every body to /api/v1/backtests over a few connections; the new jobs' ids."""
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def one(body: dict[str, Any]) -> UUID:
            async with http.post(f"{api_url}/api/v1/backtests", json=body) as resp:
                if resp.status != 202:
                    raise RuntimeError(f"POST /api/v1/backtests: {resp.status} {await resp.text()}")
                return UUID((await resp.json())["id"])

        return list(await asyncio.gather(*(one(b) for b in bodies)))


async def wait_settled(dsn: str, ids: list[UUID], *, within: float) -> JobsProgress:
    """Poll until every job has settled or `within` seconds have passed."""
    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + within
        while True:
            row = await conn.fetchrow(_PROGRESS_SQL, ids)
            assert row is not None
            progress = JobsProgress(**dict(row))
            if progress.settled or time.monotonic() > deadline:
                return progress
            await asyncio.sleep(_POLL_SECONDS)
    finally:
        await conn.close()


async def wait_for_consumers(
    amqp_url: str,
    prefix: str,
    count: int,
    *,
    within: float,
    command: type[Message] = RunBacktest,
) -> None:
    """Until `count` workers consume `command`'s queue (each has connected and declared)."""
    queue_name = Topology(prefix).queue_for(command)
    connection = await aio_pika.connect(amqp_url)
    try:
        deadline = time.monotonic() + within
        while True:
            channel = await connection.channel()
            consumers = 0
            try:
                queue = await channel.declare_queue(queue_name, passive=True)
                consumers = queue.declaration_result.consumer_count or 0
            except aio_pika.exceptions.ChannelClosed:
                pass  # not declared yet
            finally:
                if not channel.is_closed:
                    await channel.close()
            if consumers >= count:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{consumers} of {count} engine workers consuming")
            await asyncio.sleep(0.2)
    finally:
        await connection.close()
