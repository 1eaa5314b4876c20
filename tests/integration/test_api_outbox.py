"""No job is lost between PostgreSQL and RabbitMQ: with the broker away, POST still answers
202 and the job's message is published once the broker is back."""

import asyncio
from urllib.parse import urlsplit

import aio_pika
import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from devtools.waiting import poll_until
from services.api.app import create_app
from shared.amqp import Topology
from shared.messages import RunBackfill
from shared.settings import Settings
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.integration

BACKFILL = {
    "category": "linear",
    "symbol": "BTCUSDT",
    "interval": "1",
    "start": 1_704_067_200_000,  # backfills start in 2015 or later
    "end": 1_704_070_800_000,
}


async def pending(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"))


async def wait_until(condition, within: float = 30.0) -> None:
    await poll_until(condition, within=within)


async def queued_backfill_ids(settings: Settings) -> list[str]:
    connection = await aio_pika.connect(settings.amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(
            Topology(settings.amqp_prefix).queue_for(RunBackfill), passive=True
        )
        ids = []
        while (message := await queue.get(fail=False)) is not None:
            ids.append(str(RunBackfill.model_validate_json(message.body).backfill_id))
        return ids


async def test_jobs_wait_in_the_outbox_while_the_broker_is_away(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    target = urlsplit(settings.amqp_url)
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 5672)
    await proxy.start()
    await proxy.cut()  # the broker is down when the API starts
    through_proxy = settings.model_copy(
        update={"amqp_url": f"amqp://guest:guest@127.0.0.1:{proxy.port}/"}
    )
    async with TestClient(TestServer(create_app(through_proxy))) as api:
        assert (await api.get("/api/v1/readyz")).status == 503
        first = await (await api.post("/api/v1/backfills", json=BACKFILL)).json()
        await asyncio.sleep(1.5)
        assert await pending(pool) == 1, "nothing published while the broker is away"

        await proxy.start()
        await wait_until(lambda: _is_ready(api))
        await wait_until(lambda: _none_pending(pool))

        await proxy.cut()  # and down again, after the API had connected
        resp = await api.post("/api/v1/backfills", json=BACKFILL)
        assert resp.status == 202
        second = await resp.json()
        await asyncio.sleep(1.0)
        assert await pending(pool) == 1
        await proxy.start()
        await wait_until(lambda: _none_pending(pool), within=30)
        await proxy.cut()
    assert sorted(await queued_backfill_ids(settings)) == sorted([first["id"], second["id"]])


async def _is_ready(api: TestClient) -> bool:  # type: ignore[type-arg]
    return (await api.get("/api/v1/readyz")).status == 200


async def _none_pending(pool: asyncpg.Pool) -> bool:
    return await pending(pool) == 0
