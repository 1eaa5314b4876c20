"""What an ingest run sets up: the simulator's configuration and the backfill jobs it queues."""

from uuid import UUID

import asyncpg

from shared.repos.backfills import BackfillSpec, create_backfill


def sim_env(**values: object) -> dict[str, str]:
    """`BYBIT_SIM_*` variables; booleans as true/false, sequences comma separated."""
    env = {}
    for name, value in values.items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, list | tuple):
            text = ",".join(str(item) for item in value)
        else:
            text = str(value)
        env[f"BYBIT_SIM_{name.upper()}"] = text
    return env


async def queue_backfills(dsn: str, specs: list[BackfillSpec]) -> list[UUID]:
    """Insert the jobs with their outbox rows; the ingest's own relay publishes them."""
    conn = await asyncpg.connect(dsn)
    try:
        return [await create_backfill(conn, spec) for spec in specs]
    finally:
        await conn.close()
