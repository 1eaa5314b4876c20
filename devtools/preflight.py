"""Before starting anything: are PostgreSQL and RabbitMQ there? If not, say how to start them."""

import asyncio

import aio_pika
import asyncpg

from shared.db import with_database
from shared.settings import Settings

_HOW_TO_START = {
    "PostgreSQL": "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    "RabbitMQ": "rabbitmq-server -detached",
}


class NotReachable(Exception):
    pass


async def _postgres(settings: Settings) -> None:
    # The platform's own database may not exist yet; the server's `postgres` one does.
    conn = await asyncpg.connect(with_database(settings.database_url, "postgres"), timeout=5)
    await conn.close()


async def _rabbitmq(settings: Settings) -> None:
    connection = await aio_pika.connect(settings.amqp_url, timeout=5)
    await connection.close()


async def check_servers(settings: Settings) -> None:
    """Raise NotReachable naming each server that does not answer and how to start it."""
    problems = []
    for name, probe, url in (
        ("PostgreSQL", _postgres, settings.database_url),
        ("RabbitMQ", _rabbitmq, settings.amqp_url),
    ):
        try:
            await asyncio.wait_for(probe(settings), timeout=10)
        except Exception as exc:
            problems.append(
                f"{name} is not reachable at {url} ({type(exc).__name__}: {exc}).\n"
                f"  Start it with: {_HOW_TO_START[name]}"
            )
    if problems:
        raise NotReachable("\n".join(problems))
