"""A producer's RabbitMQ user (created with the documented permissions) can submit jobs, read
its answers and bind its own queues to the events; it cannot touch the platform's internals."""

import asyncio
import json
import re
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aio_pika
import aiormq.exceptions
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from devtools.producer_user import DEFAULT_PASSWORD, password_matches
from shared.amqp import SUBMIT_ROUTING_KEY, Topology
from shared.messages import RunBacktest
from shared.producer_rights import (
    DEFAULT_PRODUCER_USER,
    Permissions,
    own_queue_prefix,
    producer_permissions,
)
from shared.settings import Settings
from tests.support.market import BACKTEST_REQUEST, insert_hourly
from tests.support.rabbitmq_users import rabbitmq_user, rabbitmqctl

pytestmark = pytest.mark.integration

Client = TestClient[web.Request, web.Application]


async def _refused(
    amqp_url: str, action: Callable[[aio_pika.abc.AbstractChannel], Awaitable[Any]]
) -> bool:
    """Whether the broker refuses `action` on a fresh channel (403 ACCESS_REFUSED)."""
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        try:
            await action(channel)
            # A refused publish closes the channel after the fact: a round trip shows it.
            await channel.declare_queue(exclusive=True)
        except aiormq.exceptions.ChannelAccessRefused:
            return True
        return False
    finally:
        await connection.close()


async def test_a_producer_submits_and_follows_but_touches_nothing_else(
    api: Client, pool: Any, settings: Settings
) -> None:
    await insert_hourly(pool)
    topology = Topology(settings.amqp_prefix)
    # The API has declared the topology once it consumes (it answers a submission).
    async with rabbitmq_user(settings.amqp_url, producer_permissions(topology)) as url:
        connection = await aio_pika.connect(url)
        try:
            channel = await connection.channel()
            replies = await channel.declare_queue(exclusive=True)
            own = await channel.declare_queue(f"{own_queue_prefix(topology)}{uuid.uuid4().hex}")
            events = await channel.get_exchange(topology.events)
            await own.bind(events, routing_key="backtest.*")
            submit = await channel.get_exchange(topology.submit)
            envelope = {
                "type": "SubmitBacktest",
                "version": 1,
                "id": str(uuid.uuid4()),
                "request": BACKTEST_REQUEST,
            }

            async def answered() -> dict[str, Any]:
                # Until the API consumes, a submission waits in its queue: one is enough.
                await submit.publish(
                    aio_pika.Message(
                        orjson.dumps(envelope), reply_to=replies.name, correlation_id="c1"
                    ),
                    routing_key=SUBMIT_ROUTING_KEY,
                )
                async with replies.iterator() as incoming:
                    async for message in incoming:
                        await message.ack()
                        assert message.correlation_id == "c1"
                        body: dict[str, Any] = orjson.loads(message.body)
                        return body
                raise AssertionError("no answer")

            answer = await asyncio.wait_for(answered(), 60)
            assert answer["type"] == "SubmissionAccepted"
            await own.unbind(events, routing_key="backtest.*")
            await own.delete(if_unused=False, if_empty=False)
        finally:
            await connection.close()

        commands = await _publishing_to(topology.commands, RunBacktest.__name__)
        assert await _refused(url, commands)
        # The platform's queues: not readable, not configurable, not a binding's destination.
        assert await _refused(url, lambda ch: _get_one(ch, topology.queue_for(RunBacktest)))
        assert await _refused(url, lambda ch: _get_one(ch, topology.submissions))
        assert await _refused(url, lambda ch: ch.queue_delete(topology.submissions))
        assert await _refused(url, lambda ch: ch.declare_queue(topology.dead_letters, durable=True))
        assert await _refused(url, lambda ch: _bind(ch, topology.submissions, topology.events))
        # Nor may it publish to the events exchange, or (re)declare the platform's exchanges.
        assert await _refused(url, await _publishing_to(topology.events, "backtest.succeeded"))
        assert await _refused(
            url,
            lambda ch: ch.declare_exchange(
                topology.commands, aio_pika.ExchangeType.DIRECT, durable=True
            ),
        )
        # What it may do, it may do (the refusals above are not the user failing at all).
        assert not await _refused(url, await _publishing_to(topology.submit, "not-routed"))


async def _publishing_to(
    exchange: str, routing_key: str
) -> Callable[[aio_pika.abc.AbstractChannel], Awaitable[Any]]:
    async def publish(channel: aio_pika.abc.AbstractChannel) -> None:
        target = await channel.get_exchange(exchange)
        await target.publish(aio_pika.Message(b"{}"), routing_key=routing_key)

    return publish


async def _get_one(channel: aio_pika.abc.AbstractChannel, queue: str) -> None:
    found = await channel.get_queue(queue)
    await found.get(fail=False)


async def _bind(channel: aio_pika.abc.AbstractChannel, queue: str, exchange: str) -> None:
    found = await channel.get_queue(queue)
    await found.bind(exchange, routing_key="#")


def _compose_definitions() -> dict[str, Any]:
    path = Path(__file__).parents[2] / "deploy" / "rabbitmq" / "definitions.json"
    definitions: dict[str, Any] = json.loads(path.read_text())
    return definitions


async def test_the_compose_users_have_the_documented_rights_and_passwords() -> None:
    definitions = _compose_definitions()
    users = {user["name"]: user for user in definitions["users"]}
    rights = {p["user"]: p for p in definitions["permissions"]}
    # The compose file's prefix is the settings' default.
    expected = producer_permissions(Topology(Settings().amqp_prefix))
    producer = rights[DEFAULT_PRODUCER_USER]
    assert (producer["configure"], producer["write"], producer["read"]) == (
        expected.configure,
        expected.write,
        expected.read,
    )
    assert users[DEFAULT_PRODUCER_USER]["tags"] == ""  # no management or admin rights
    assert password_matches(users[DEFAULT_PRODUCER_USER]["password_hash"], DEFAULT_PASSWORD)
    assert password_matches(users["guest"]["password_hash"], "guest")
    assert not password_matches(users["guest"]["password_hash"], "producer")


async def test_password_hashes_are_rabbitmqs_own(settings: Settings) -> None:
    """The hash written into the definitions is the one RabbitMQ stores for a password."""
    async with rabbitmq_user(settings.amqp_url, Permissions("^$", "^$", "^$")) as url:
        user, password = url.split("//")[1].split("@")[0].split(":")
        exported = json.loads(await rabbitmqctl("export_definitions", "-", "--format", "json"))
    stored = next(u["password_hash"] for u in exported["users"] if u["name"] == user)
    assert password_matches(stored, password)
    assert not password_matches(stored, password + "x")


@pytest.mark.parametrize("document", ["README.md", "docs/api.md"])
def test_the_documented_permissions_are_the_granted_ones(document: str) -> None:
    text = (Path(__file__).parents[2] / document).read_text()
    quoted = re.findall(r"'(\^\(.*?\)\$)'", text.replace("\\\\", "\\"))
    expected = producer_permissions(Topology(Settings().amqp_prefix))
    assert quoted == [expected.configure, expected.write, expected.read]
