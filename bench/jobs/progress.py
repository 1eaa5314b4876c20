"""Submitting backtests through the API, and following them in the database until settled."""

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import aiohttp
import asyncpg

from devtools.waiting import StillWaiting, poll_until

_POLL_SECONDS = 0.1

_PROGRESS_SQL = """
SELECT count(*) AS jobs,
       count(*) FILTER (WHERE status = 'succeeded') AS succeeded,
       count(*) FILTER (WHERE status IN ('failed', 'cancelled')) AS failed,
       coalesce(min(error), '') AS first_error,
       min(created_at) AS first_created,
       max(finished_at) AS last_finished,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM started_at - created_at))
           AS median_queued_seconds,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - started_at))
           AS median_run_seconds
FROM backtests WHERE id = ANY($1::uuid[])
"""


@dataclass(frozen=True)
class JobsProgress:
    jobs: int
    succeeded: int
    failed: int
    first_error: str
    first_created: datetime | None
    last_finished: datetime | None
    median_queued_seconds: float | None
    median_run_seconds: float | None

    @property
    def settled(self) -> bool:
        return self.succeeded + self.failed == self.jobs

    @property
    def elapsed_seconds(self) -> float:
        """From the first job's creation to the last one's end, as the database recorded them."""
        if self.first_created is None or self.last_finished is None:
            return 0.0
        return (self.last_finished - self.first_created).total_seconds()


async def submit(
    api_url: str, bodies: list[dict[str, Any]], *, connections: int = 16
) -> list[UUID]:
    """POST every body to /api/v1/backtests over a few connections; the new jobs' ids."""
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def one(body: dict[str, Any]) -> UUID:
            async with http.post(f"{api_url}/api/v1/backtests", json=body) as resp:
                if resp.status != 202:
                    raise RuntimeError(f"POST /api/v1/backtests: {resp.status} {await resp.text()}")
                return UUID((await resp.json())["id"])

        return list(await asyncio.gather(*(one(b) for b in bodies)))


async def wait_settled(dsn: str, ids: list[UUID], *, within: float) -> JobsProgress:
    """Poll until every job has settled; after `within` seconds, the progress so far."""
    conn = await asyncpg.connect(dsn)

    async def read() -> JobsProgress:
        row = await conn.fetchrow(_PROGRESS_SQL, ids)
        assert row is not None
        return JobsProgress(**dict(row))

    try:
        return await poll_until(read, lambda p: p.settled, within=within, every=_POLL_SECONDS)
    except StillWaiting as exc:
        last: JobsProgress = exc.last
        return last
    finally:
        await conn.close()
