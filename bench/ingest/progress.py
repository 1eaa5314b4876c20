"""Following the backfill jobs of a run in the database, and what they add up to."""

import statistics
import time
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from bench.support import proc_stats
from devtools.waiting import StillWaiting, poll_until

_POLL_SECONDS = 0.2
_WINDOW_SECONDS = 5.0

_PROGRESS_SQL = """
SELECT count(*) AS jobs,
       count(*) FILTER (WHERE r.status = 'succeeded') AS succeeded,
       count(*) FILTER (WHERE r.status IN ('failed', 'cancelled')) AS failed,
       coalesce(string_agg(r.error, '; '), '') AS errors,
       coalesce(sum(p.rows_written), 0)::bigint AS rows,
       coalesce(sum(p.pages_done), 0)::bigint AS pages,
       min(r.started_at) AS started,
       max(r.finished_at) AS finished,
       clock_timestamp() AS db_now
FROM backfill_run r LEFT JOIN backfill_progress p ON p.backfill_id = r.id
"""


@dataclass(frozen=True)
class Progress:
    jobs: int
    succeeded: int
    failed: int
    errors: str
    rows: int
    pages: int
    started: datetime | None
    finished: datetime | None
    db_now: datetime

    @property
    def settled(self) -> bool:
        return self.succeeded + self.failed == self.jobs

    @property
    def elapsed_seconds(self) -> float:
        """From the first job's start to the last one's end (or to now, if not all ended)."""
        if self.started is None:
            return 0.0
        end = self.finished if self.settled and self.finished else self.db_now
        return (end - self.started).total_seconds()


async def read_progress(conn: asyncpg.Connection) -> Progress:
    row = await conn.fetchrow(_PROGRESS_SQL)
    assert row is not None
    return Progress(**dict(row))


@dataclass
class Followed:
    """How the run went: the final progress, rows over time and CPU over the running span."""

    progress: Progress
    timed_out: bool
    samples: list[tuple[float, int]] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)

    def window_rates(self) -> list[float]:
        """Candles per second over each trailing 5-second window of the run."""
        rates = []
        j = 0
        for t, rows in self.samples:
            while j + 1 < len(self.samples) and self.samples[j + 1][0] <= t - _WINDOW_SECONDS:
                j += 1
            t0, rows0 = self.samples[j]
            if t - t0 >= _WINDOW_SECONDS:
                rates.append((rows - rows0) / (t - t0))
        return rates

    def sustained(self) -> tuple[float, float]:
        """(median, worst) of the 5-second window rates; zeros for a run shorter than that."""
        rates = self.window_rates()
        return (statistics.median(rates), min(rates)) if rates else (0.0, 0.0)


async def follow(dsn: str, pids: dict[str, int], *, within: float) -> Followed:
    """Poll until every job has settled or `within` seconds have passed since the first started
    (the ingest has a minute to come up and start one)."""
    conn = await asyncpg.connect(dsn)
    samples: list[tuple[float, int]] = []

    async def sampled() -> Progress:
        progress = await read_progress(conn)
        if progress.started is not None:
            samples.append((time.monotonic(), progress.rows))
        return progress

    try:
        try:
            progress = await poll_until(
                sampled, lambda p: p.started is not None, within=60.0, every=_POLL_SECONDS
            )
        except StillWaiting as exc:
            return Followed(exc.last, timed_out=True)
        first_cpu = proc_stats.CpuReading.take(pids)
        try:
            progress = await poll_until(
                sampled, lambda p: p.settled, within=within, every=_POLL_SECONDS
            )
        except StillWaiting as exc:
            progress = exc.last
        cpu = proc_stats.CpuReading.take(pids).share_since(first_cpu)
        return Followed(progress, not progress.settled, samples, cpu)
    finally:
        await conn.close()
