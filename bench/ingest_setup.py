"""The backfill jobs an ingest run queues."""

from uuid import UUID

import asyncpg

from shared.repos.backfills import BackfillSpec, create_backfill


async def queue_backfills(dsn: str, specs: list[BackfillSpec]) -> list[UUID]:
    """Insert the jobs with their outbox rows; the ingest's own relay publishes them."""
    conn = await asyncpg.connect(dsn)
    try:
        return [await create_backfill(conn, spec) for spec in specs]
    finally:
        await conn.close()
