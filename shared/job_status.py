"""The statuses every job (backfill, backtest, optimization) goes through."""

from typing import Literal

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
TERMINAL_STATUSES: tuple[JobStatus, ...] = ("succeeded", "failed", "cancelled")
