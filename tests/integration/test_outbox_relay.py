"""The outbox relay wakes when rows are committed, not at its next poll."""

import asyncio
import contextlib
from typing import cast
from uuid import uuid4

import asyncpg
import pytest

from shared.amqp import Publisher
from shared.db import create_pool
from shared.messages import RunBacktest
from shared.outbox import add_to_outbox, run_relay

pytestmark = pytest.mark.integration


class Recorder:
    """A publisher that keeps the ids it was given."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.arrived = asyncio.Event()

    async def send_raw(
        self, exchange: str, message_type: str, message_id: str, body: bytes
    ) -> None:
        self.sent.append(message_id)
        self.arrived.set()


async def _commit_one(pool: asyncpg.Pool) -> str:
    message = RunBacktest(backtest_id=uuid4())
    async with pool.acquire() as conn, conn.transaction():
        await add_to_outbox(conn, message)
    return str(message.id)


async def test_a_committed_row_is_published_long_before_the_next_poll(pool: asyncpg.Pool) -> None:
    recorder = Recorder()
    relay = asyncio.create_task(run_relay(pool, cast(Publisher, recorder), idle_seconds=3600))
    try:
        for _ in range(3):  # each after the relay found the outbox empty and went idle
            recorder.arrived.clear()
            sent = await _commit_one(pool)
            await asyncio.wait_for(recorder.arrived.wait(), 10)  # the poll comes in an hour
            assert recorder.sent[-1] == sent
            await asyncio.sleep(0.2)
    finally:
        relay.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await relay
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0


@pytest.mark.parametrize("after", [0.0, 0.001, 0.005, 0.02, 0.2])
async def test_a_relay_cancelled_at_any_point_gives_its_connection_back(
    database_url: str, after: float
) -> None:
    """The pool's close waits for every connection: the listening one goes back however
    early the relay is stopped (while acquiring it, while listening, while idle)."""
    pool = await create_pool(database_url)
    relay = asyncio.create_task(run_relay(pool, cast(Publisher, Recorder()), idle_seconds=3600))
    await asyncio.sleep(after)
    relay.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await relay
    await asyncio.wait_for(pool.close(), 10)
