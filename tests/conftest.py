"""Fixtures for tests against the real PostgreSQL and RabbitMQ.

Each test gets its own database (cloned from a migrated template) and its own queue names.
"""

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator

import aio_pika
import asyncpg
import hypothesis
import pytest

from domain.strategies import install_strategies
from services.engine.pool_warm_up import warm_up
from shared.amqp import Topology
from shared.db import create_pool, with_database
from shared.migrate import migrate
from shared.settings import Settings
from tests.support.servers import Servers, test_servers

# Property tests draw the same examples on every run (seeded from each test), so a run's result
# never depends on luck: a flaky test is a bug. HYPOTHESIS_PROFILE=explore draws new examples
# (and remembers failures in .hypothesis/) to look for more; a failure it finds becomes an
# explicit @example of its test.
hypothesis.settings.register_profile("repeatable", derandomize=True, database=None, print_blob=True)
hypothesis.settings.register_profile("explore", derandomize=False, print_blob=True)
hypothesis.settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))


@pytest.fixture(scope="session", autouse=True)
def kernels_in_the_numba_cache(request: pytest.FixtureRequest) -> None:
    """On a fresh checkout, compile the engine's kernels into the numba cache once, before a test
    starts an engine: each pool process would otherwise compile them (half a minute of CPU each,
    minutes on a busy machine) inside the first job's deadline. Runs without services skip it."""
    services = ("integration", "e2e")
    if any(item.get_closest_marker(name) for item in request.session.items for name in services):
        warm_up()


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
        for queue in topology.queues:
            await channel.queue_delete(queue)
        for exchange in topology.exchanges:
            await channel.exchange_delete(exchange)
