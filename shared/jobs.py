"""What every job type shares: its statuses, its table, and the failure that ends it."""

from typing import Literal

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
ACTIVE_STATUSES: tuple[JobStatus, ...] = ("queued", "running")
TERMINAL_STATUSES: tuple[JobStatus, ...] = ("succeeded", "failed", "cancelled")

JobKind = Literal["backfill", "backtest", "optimization"]
JobTable = Literal["backfill_run", "backtests", "optimizations"]
JOB_TABLES: dict[JobKind, JobTable] = {
    "backfill": "backfill_run",
    "backtest": "backtests",
    "optimization": "optimizations",
}


class JobRejected(Exception):
    """The job cannot succeed whatever the retries: it fails with this reason."""
