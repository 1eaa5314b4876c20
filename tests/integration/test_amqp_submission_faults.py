"""AMQP submissions through faults: PostgreSQL cut or stalled (the submission is held and
answered when the database is back, never rejected), the API killed mid-submission (each job
exists once, every submission answered), and broker restarts (between publish and consume,
and between the reply and its reading)."""

import signal
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import asyncpg
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from devtools.launcher import free_port
from devtools.waiting import poll_until
from services.api.app import create_app
from services.api.submission_consumer import ATTEMPT_SECONDS, SUBMISSIONS
from shared.amqp import SUBMIT_ROUTING_KEY, Topology
from shared.producer_rights import own_queue_prefix
from shared.settings import Settings
from tests.support.broker import next_message
from tests.support.market import BACKTEST_REQUEST, insert_hourly
from tests.support.private_broker import private_broker
from tests.support.processes import service_process
from tests.support.producer import producer
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.integration

Client = TestClient[web.Request, web.Application]


def _envelope(submission_id: uuid.UUID, request: dict[str, Any] = BACKTEST_REQUEST) -> bytes:
    return orjson.dumps(
        {"type": "SubmitBacktest", "version": 1, "id": str(submission_id), "request": request}
    )


async def _jobs_of(pool: asyncpg.Pool, submission_id: uuid.UUID) -> list[uuid.UUID]:
    rows = await pool.fetch("SELECT id FROM backtests WHERE submission_id = $1", submission_id)
    return [row["id"] for row in rows]


@pytest.fixture
async def api_behind_proxy(
    settings: Settings, pool: asyncpg.Pool
) -> AsyncIterator[tuple[Client, TcpProxy]]:
    """The API with its PostgreSQL behind a proxy the test can cut or stall."""
    await insert_hourly(pool)
    proxy = await TcpProxy.to(settings.database_url)
    proxied = settings.model_copy(update={"database_url": proxy.url(settings.database_url)})
    client = TestClient(TestServer(create_app(proxied)))
    await client.start_server()
    try:
        yield client, proxy
    finally:
        proxy.resume()
        await proxy.start()
        await client.close()
        await proxy.close()


@pytest.mark.parametrize("fault", ["cut", "stall"])
async def test_a_submission_is_held_through_a_database_outage_then_accepted(
    api_behind_proxy: tuple[Client, TcpProxy], pool: asyncpg.Pool, settings: Settings, fault: str
) -> None:
    api, proxy = api_behind_proxy
    consumer = api.app[SUBMISSIONS]
    async with producer(settings.amqp_url, Topology(settings.amqp_prefix)) as sender:
        warm = await sender.submit("SubmitBacktest", BACKTEST_REQUEST)
        assert warm["type"] == "SubmissionAccepted"
        if fault == "cut":
            await proxy.cut()
        else:
            proxy.stall()
        submission_id = uuid.uuid4()
        waiting = await sender.publish(_envelope(submission_id))
        # A stalled attempt is given up after its deadline, then retried as an outage.

        async def status() -> dict[str, Any]:
            return consumer.status()

        await poll_until(
            status,
            lambda held: held["waiting_for"] == ["postgres"],
            within=ATTEMPT_SECONDS + 60,
            what="the submission held for postgres",
        )
        assert not sender.answered(waiting)  # no rejection for an outage
        if fault == "cut":
            await proxy.start()
        else:
            proxy.resume()
        answer = await sender.answer(waiting, within=90)
    assert answer["type"] == "SubmissionAccepted", answer
    assert answer["id"] == str(submission_id)
    # The stalled attempt may have committed after all: its retry found it, never a second job.
    assert await _jobs_of(pool, submission_id) == [uuid.UUID(answer["job"]["id"])]
    assert not sender.unexpected


async def test_an_api_killed_mid_submission_creates_each_job_once(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    await insert_hourly(pool)
    api_settings = settings.model_copy(update={"api_port": free_port()})
    ids = [uuid.uuid4() for _ in range(30)]
    async with producer(settings.amqp_url, Topology(settings.amqp_prefix)) as sender:
        async with service_process("services.api", api_settings) as first:
            waiting = [await sender.publish(_envelope(i)) for i in ids]
            # Killed once it has answered some (others are in hand, or not yet taken).
            await sender.answer(waiting[0], within=120)
            first.send_signal(signal.SIGKILL)
            await first.wait()
        async with service_process("services.api", api_settings):
            answers = [await sender.answer(w, within=120) for w in waiting]
        late = [orjson.loads(m.body) for m in sender.unexpected]
    for submission_id, answer in zip(ids, answers, strict=True):
        assert answer["type"] == "SubmissionAccepted", answer
        assert await _jobs_of(pool, submission_id) == [uuid.UUID(answer["job"]["id"])]
    # A submission answered by the killed API and again on redelivery names the same job.
    first_answers = {a["id"]: a["job"]["id"] for a in answers}
    assert all(first_answers[extra["id"]] == extra["job"]["id"] for extra in late)


async def test_submissions_and_replies_survive_broker_restarts(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    await insert_hourly(pool)
    topology = Topology(settings.amqp_prefix)
    async with private_broker() as broker:
        replies_name = f"{own_queue_prefix(topology)}replies"
        connection = await aio_pika.connect(broker.url)
        async with connection:
            channel = await connection.channel()
            await topology.declare(channel)
            await channel.declare_queue(replies_name, durable=True)
            submit = await channel.get_exchange(topology.submit)
            submission_id = uuid.uuid4()
            await submit.publish(  # confirmed by the broker before this returns
                aio_pika.Message(
                    _envelope(submission_id),
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    reply_to=replies_name,
                    correlation_id="c-1",
                ),
                routing_key=SUBMIT_ROUTING_KEY,
            )
        # Restarted between the publish and anyone consuming it.
        await broker.restart()
        api_settings = settings.model_copy(update={"amqp_url": broker.url})
        api = TestClient(TestServer(create_app(api_settings)))
        await api.start_server()
        try:
            await poll_until(
                lambda: _ready_count(broker.url, replies_name),
                lambda n: n == 1,
                within=120,
                what="the reply",
            )
        finally:
            await api.close()
        # The reply was confirmed: it outlives the broker too.
        await broker.restart()
        connection = await aio_pika.connect(broker.url)
        async with connection:
            channel = await connection.channel()
            replies = await channel.get_queue(replies_name)
            reply = await next_message(replies)
            await reply.ack()
    answer = orjson.loads(reply.body)
    assert reply.correlation_id == "c-1"
    assert answer["type"] == "SubmissionAccepted" and answer["id"] == str(submission_id)
    assert await _jobs_of(pool, submission_id) == [uuid.UUID(answer["job"]["id"])]


async def _ready_count(url: str, queue: str) -> int:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        return declared.declaration_result.message_count or 0
