"""GET /api/v1/events: a job's status changes arrive as Server-Sent Events, from the broker's
job events and the database poll, and a stream reconnecting with Last-Event-ID resumes."""

import asyncio
import contextlib
import signal
import time
import uuid
from typing import Any

import aio_pika
import aiohttp
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from devtools.launcher import free_port, wait_until_serving
from services.api import job_events
from services.api.job_events import _REMEMBERED_JOBS
from shared.amqp import Topology
from shared.messages import BacktestFailed, JobProgressed
from shared.repos import jobs as jobs_repo
from shared.settings import Settings
from tests.support.event_stream import events_of, events_until
from tests.support.market import BACKTEST_REQUEST, insert_hourly
from tests.support.processes import service_process
from tests.support.services import running_engine

pytestmark = pytest.mark.integration

Client = TestClient[web.Request, web.Application]


async def insert_queued_backtest(pool: asyncpg.Pool) -> str:
    """A row no worker will run (no message): only the database poll tells of it."""
    job_id = uuid.uuid4()
    await pool.execute(
        "INSERT INTO backtests (id, request, symbol, strategy) VALUES ($1, '{}', 'X', 'y')", job_id
    )
    return str(job_id)


async def test_a_backtests_status_changes_arrive_and_a_reconnect_resumes(
    api: Client, settings: Settings, pool: asyncpg.Pool
) -> None:
    await insert_hourly(pool)
    async with running_engine(settings):
        stream = await api.get("/api/v1/events")
        assert stream.status == 200
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        marker = await insert_queued_backtest(pool)
        (told,) = await events_of(stream, marker, until="queued")
        created = await api.post("/api/v1/backtests", json=BACKTEST_REQUEST)
        job_id = (await created.json())["id"]
        after = await events_until(stream, job_id, "succeeded")
        stream.close()
    seen = [e for e in after if e["id"] == job_id]
    assert all(e["event"] == "job" and e["kind"] == "backtest" for e in seen)
    # Each state once, in order; a job quicker than the poll may be told only its end.
    statuses = [e["status"] for e in seen]
    order = ["queued", "running", "succeeded"]
    assert statuses == sorted(set(statuses), key=order.index) and statuses[-1] == "succeeded"
    numbers = [int(e["event_id"].split("-")[1]) for e in [told, *after]]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    # Reconnecting from the marker's event replays exactly what came after it.
    resumed = await api.get("/api/v1/events", headers={"Last-Event-ID": told["event_id"]})
    replayed = await events_until(resumed, job_id, "succeeded")
    resumed.close()
    assert [e["event_id"] for e in replayed] == [e["event_id"] for e in after]


async def test_a_job_event_published_on_the_broker_arrives(api: Client, settings: Settings) -> None:
    stream = await api.get("/api/v1/events")
    job_id = uuid.uuid4()  # no such row: only the broker can tell of it
    message = BacktestFailed(job_id=job_id, error="boom")
    connection = await aio_pika.connect_robust(settings.amqp_url)
    try:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(
            Topology(settings.amqp_prefix).events, aio_pika.ExchangeType.TOPIC, durable=True
        )

        async def publish_until_seen() -> list[dict[str, Any]]:
            # The API binds its queue once it is connected: publish again until it is.
            while True:
                await exchange.publish(
                    aio_pika.Message(message.model_dump_json().encode(), type=message.type),
                    routing_key=message.routing_key,
                )
                try:
                    return await asyncio.wait_for(events_of(stream, str(job_id), until="failed"), 2)
                except TimeoutError:
                    continue

        seen = await asyncio.wait_for(publish_until_seen(), 60)
    finally:
        await connection.close()
        stream.close()
    assert seen[-1]["source"] == "broker" and seen[-1]["error"] == "boom"
    assert len(seen) == 1


async def test_an_unknown_last_event_id_replays_the_buffer(api: Client, pool: asyncpg.Pool) -> None:
    first = await api.get("/api/v1/events")
    job_id = await insert_queued_backtest(pool)
    told = await events_of(first, job_id, until="queued")
    first.close()
    assert told[0]["source"] == "database" and told[0]["progress"] is None
    again = await api.get("/api/v1/events", headers={"Last-Event-ID": "from-another-process-1"})
    assert (await events_of(again, job_id, until="queued"))[0]["event_id"] == told[0]["event_id"]
    again.close()


async def test_an_open_stream_does_not_hold_the_apis_shutdown(settings: Settings) -> None:
    port = free_port()
    served = settings.model_copy(update={"api_port": port, "log_level": "WARNING"})
    url = f"http://127.0.0.1:{port}"
    async with (
        service_process("services.api", served) as proc,
        aiohttp.ClientSession() as http,
    ):
        await wait_until_serving(f"{url}/api/v1/readyz", proc, within=60)
        stream = await http.get(f"{url}/api/v1/events")
        assert stream.status == 200
        await stream.content.readline()  # the stream is open: `retry: ...`
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 30)
        # aiohttp would wait 60 s for a handler still running; the stream ended instead.
        assert time.monotonic() - started < 10
        assert (await asyncio.wait_for(stream.content.read(), 10)).strip() == b""  # ended
        assert proc.returncode == 0


async def test_a_poll_over_more_live_jobs_than_the_hub_remembers_tells_each_once(
    pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = _REMEMBERED_JOBS + 500
    await pool.execute(
        """INSERT INTO backtests (id, request, symbol, strategy)
           SELECT gen_random_uuid(), '{}', 'X', 'y' FROM generate_series(1, $1::int)""",
        live,
    )
    polls = 0
    fourth_poll = asyncio.Event()  # three whole polls after the first
    read_live_jobs = jobs_repo.live_and_recent_jobs

    async def counted_read(db: asyncpg.Pool) -> list[Any]:
        nonlocal polls
        polls += 1
        if polls == 4:
            fourth_poll.set()
        return await read_live_jobs(db)

    monkeypatch.setattr(jobs_repo, "live_and_recent_jobs", counted_read)
    monkeypatch.setattr(job_events, "POLL_SECONDS", 0.01)
    hub = job_events.JobEventHub()
    published: list[JobProgressed] = []

    async def publish(event: JobProgressed) -> None:
        published.append(event)

    poll = asyncio.create_task(job_events.poll_jobs(hub, pool, publish))
    await asyncio.wait_for(fourth_poll.wait(), 60)
    poll.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await poll
    assert len(published) == live
    assert len({event.job_id for event in published}) == live
    assert hub.latest_id() == f"{hub.epoch}-{live}"
