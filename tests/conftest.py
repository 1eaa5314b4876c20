"""Fixtures for tests against the real PostgreSQL and RabbitMQ.

Each test gets its own database (cloned from a migrated template) and its own queue names.
"""

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import aio_pika
import asyncpg
import pytest

from domain.strategies import install_strategies
from shared.amqp import Topology
from shared.db import create_pool, with_database
from shared.migrate import migrate
from shared.settings import Settings
from tests.support.servers import Servers, test_servers


@pytest.fixture(autouse=True)
def builtin_strategies_only() -> Iterator[None]:
    """A service started in a test installs its plugins for the whole process (as it would in
    its own); the next test starts again from the built-ins alone."""
    yield
    install_strategies("")


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    try:
        with test_servers() as found:
            yield found
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)


async def _drop_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def template_database(servers: Servers) -> Iterator[str]:
    """A migrated database that each test's database is cloned from."""
    name = f"bt_template_{uuid.uuid4().hex[:8]}"
    asyncio.run(migrate(with_database(servers.database_url, name)))
    yield name
    asyncio.run(_drop_database(servers.database_url, name))


@pytest.fixture
async def database_url(servers: Servers, template_database: str) -> AsyncIterator[str]:
    name = f"bt_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(servers.database_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    finally:
        await admin.close()
    yield with_database(servers.database_url, name)
    await _drop_database(servers.database_url, name)


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url)
    yield pool
    await pool.close()


@pytest.fixture
async def settings(servers: Servers, database_url: str) -> AsyncIterator[Settings]:
    """Settings for this test: its own database and its own queue and exchange names."""
    settings = Settings(
        database_url=database_url,
        amqp_url=servers.amqp_url,
        amqp_prefix=f"test-{uuid.uuid4().hex[:12]}",
        ingest_ban_pause_seconds=5,
    )
    yield settings
    await _delete_topology(settings)


async def _delete_topology(settings: Settings) -> None:
    topology = Topology(settings.amqp_prefix)
    connection = await aio_pika.connect(settings.amqp_url)
    async with connection:
        channel = await connection.channel()
        for queue in topology.command_queues:
            await channel.queue_delete(queue)
        await channel.queue_delete(topology.dead_letters)
        for exchange in (topology.commands, topology.events, topology.dead_letters):
            await channel.exchange_delete(exchange)
