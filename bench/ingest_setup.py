"""A fresh database and broker names for one ingest run, the jobs it runs, and the clean-up."""

import contextlib
from uuid import UUID

import aio_pika
import asyncpg

from shared.amqp import Topology
from shared.backfill_runs import BackfillSpec, create_backfill
from shared.db import with_database
from shared.migrate import migrate


async def drop_database(dsn: str, name: str) -> None:
    admin = await asyncpg.connect(with_database(dsn, "postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def fresh_database(dsn: str, name: str) -> str:
    """Drop and recreate `name` on the server of `dsn`, migrated; returns its DSN."""
    await drop_database(dsn, name)
    bench_dsn = with_database(dsn, name)
    await migrate(bench_dsn)
    return bench_dsn


async def queue_backfills(dsn: str, specs: list[BackfillSpec]) -> list[UUID]:
    """Insert the jobs with their outbox rows; the ingest's own relay publishes them."""
    conn = await asyncpg.connect(dsn)
    try:
        return [await create_backfill(conn, spec) for spec in specs]
    finally:
        await conn.close()


async def delete_topology(amqp_url: str, prefix: str) -> None:
    """Remove the queues and exchanges the ingest declared under `prefix`."""
    topology = Topology(prefix)
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        for queue in [*topology.command_queues, topology.dead_letters]:
            with contextlib.suppress(aio_pika.exceptions.AMQPError):
                await channel.queue_delete(queue)
        for exchange in (topology.commands, topology.events, topology.dead_letters):
            with contextlib.suppress(aio_pika.exceptions.AMQPError):
                await channel.exchange_delete(exchange)
    finally:
        await connection.close()
