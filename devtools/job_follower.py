"""Following a job (backfill, backtest, optimization) until it settles, however it is read:
through the REST API, a test client or the database. The demo, the benchmarks and the tests
all follow jobs this way."""

from collections.abc import Awaitable, Callable, Collection
from typing import Any, TypeVar

from devtools.waiting import poll_until
from shared.jobs import TERMINAL_STATUSES

J = TypeVar("J")


def status_field(job: Any) -> str:
    """The status of a job as the API answers it (a JSON object)."""
    status: str = job["status"]
    return status


async def follow_job(
    read: Callable[[], Awaitable[J]],
    *,
    within: float,
    status: Callable[[J], str] = status_field,
    until: Collection[str] = TERMINAL_STATUSES,
    on_update: Callable[[J], None] | None = None,
    every: float = 0.1,
    what: str = "job",
) -> J:
    """Read the job every `every` seconds until its status is one of `until` (by default: it
    has ended); the job as last read. `on_update` sees each reading. Raises StillWaiting after
    `within` seconds."""

    def reached(job: J) -> bool:
        if on_update is not None:
            on_update(job)
        return status(job) in until

    return await poll_until(
        read, reached, within=within, every=every, what=f"{what} {'/'.join(until)}"
    )
