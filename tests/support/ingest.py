"""Running the ingest against the simulator in tests, and comparing what it stored."""

import asyncio
from contextlib import AbstractAsyncContextManager
from typing import Any
from uuid import UUID

import asyncpg
import numpy as np

from devtools.job_follower import follow_job
from devtools.waiting import poll_until
from shared.jobs import TERMINAL_STATUSES
from shared.repos.backfills import BackfillSpec, BackfillView, create_backfill, get_backfill
from shared.settings import Settings
from tests.support.processes import service_process


def ingest_process(settings: Settings) -> AbstractAsyncContextManager[asyncio.subprocess.Process]:
    """`python -m services.ingest` in a process of its own, so a test can kill it."""
    return service_process("services.ingest", settings)


async def queue_backfill(pool: asyncpg.Pool, spec: BackfillSpec) -> UUID:
    async with pool.acquire() as conn:
        return await create_backfill(conn, spec)


async def wait_for_backfill(
    pool: asyncpg.Pool,
    backfill_id: UUID,
    *,
    until: tuple[str, ...] = TERMINAL_STATUSES,
    within: float = 90,
) -> BackfillView:
    async def read() -> BackfillView:
        view = await get_backfill(pool, backfill_id)
        assert view is not None
        return view

    return await follow_job(
        read, within=within, status=lambda view: view.status, until=until, what="backfill"
    )


CANDLE_FIELDS = ("open_time", "open", "high", "low", "close", "volume", "turnover")
MARK_PRICE_FIELDS = CANDLE_FIELDS[:5]


async def wait_for_backfill_progress(
    pool: asyncpg.Pool, backfill_id: UUID, pages: int
) -> BackfillView:
    """Until `pages` pages are done (or the backfill has stopped running)."""

    async def read() -> BackfillView:
        return await wait_for_backfill(
            pool, backfill_id, until=("running", "succeeded", "failed"), within=120
        )

    return await poll_until(
        read,
        lambda view: view.pages_done >= pages or view.status != "running",
        within=120,
        every=0.05,
        what=f"{pages} pages done",
    )


async def stored_candles(
    pool: asyncpg.Pool, category: str, symbol: str, interval: str, table: str = "klines"
) -> dict[str, Any]:
    """Stored candles (or, with table="mark_price_klines", mark-price candles), oldest first."""
    fields = CANDLE_FIELDS if table == "klines" else MARK_PRICE_FIELDS
    rows = await pool.fetch(
        f"""SELECT (extract(epoch FROM open_time) * 1000)::bigint AS open_time,
                   {", ".join(fields[1:])}
            FROM {table} WHERE category = $1 AND symbol = $2 AND interval = $3
            ORDER BY open_time""",
        category,
        symbol,
        interval,
    )
    return {f: np.array([r[f] for r in rows]) for f in fields}


def assert_same_candles(stored: dict[str, Any], expected: Any) -> None:
    """Stored candles equal the simulator's exactly: same open times, same float values."""
    assert len(stored["open_time"]) == len(expected), (len(stored["open_time"]), len(expected))
    for field in stored:
        assert np.array_equal(stored[field], expected[field]), field


async def stored_fundings(pool: asyncpg.Pool, category: str, symbol: str) -> dict[str, Any]:
    rows = await pool.fetch(
        """SELECT (extract(epoch FROM funding_time) * 1000)::bigint AS time, rate
           FROM funding_rates WHERE category = $1 AND symbol = $2 ORDER BY funding_time""",
        category,
        symbol,
    )
    return {f: np.array([r[f] for r in rows]) for f in ("time", "rate")}
