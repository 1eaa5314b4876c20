"""Scratch servers' resources for one benchmark run: a fresh database and unique broker names,
both removed afterwards."""

import contextlib
import uuid
from collections.abc import AsyncIterator

import aio_pika
import asyncpg

from shared.amqp import Topology
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


async def delete_topology(amqp_url: str, prefix: str) -> None:
    """Remove the queues and exchanges declared under `prefix`."""
    topology = Topology(prefix)
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        for queue in topology.queues:
            with contextlib.suppress(aio_pika.exceptions.AMQPError):
                await channel.queue_delete(queue)
        for exchange in topology.exchanges:
            with contextlib.suppress(aio_pika.exceptions.AMQPError):
                await channel.exchange_delete(exchange)
    finally:
        await connection.close()


def unique_prefix() -> str:
    return f"bench-{uuid.uuid4().hex[:12]}"


@contextlib.asynccontextmanager
async def scratch_database(dsn: str, name: str) -> AsyncIterator[str]:
    """A fresh, migrated database `name` for the block; dropped after it."""
    try:
        yield await fresh_database(dsn, name)
    finally:
        await drop_database(dsn, name)


@contextlib.asynccontextmanager
async def scratch_prefix(amqp_url: str) -> AsyncIterator[str]:
    """A unique AMQP prefix for the block; its queues and exchanges are deleted after it."""
    prefix = unique_prefix()
    try:
        yield prefix
    finally:
        await delete_topology(amqp_url, prefix)
