"""Waiting with a deadline: the value that satisfied the condition, or what was seen last."""

import itertools

import pytest

from devtools.job_follower import follow_job
from devtools.waiting import StillWaiting, poll_until


async def test_poll_until_returns_the_first_value_that_satisfies() -> None:
    counter = itertools.count()

    async def read() -> int:
        return next(counter)

    assert await poll_until(read, lambda n: n >= 3, within=10, every=0) == 3


async def test_poll_until_gives_up_after_the_deadline_with_the_last_value() -> None:
    async def read() -> str:
        return "queued"

    with pytest.raises(StillWaiting) as waited:
        await poll_until(read, lambda s: s == "done", within=0.05, every=0.01, what="the job")
    assert waited.value.last == "queued" and "the job" in str(waited.value)


async def test_follow_job_stops_at_a_terminal_status_and_reports_each_reading() -> None:
    states = iter([{"status": "queued"}, {"status": "running"}, {"status": "succeeded"}])
    seen: list[str] = []

    async def read() -> dict[str, str]:
        return next(states)

    job = await follow_job(read, within=10, every=0, on_update=lambda j: seen.append(j["status"]))
    assert job == {"status": "succeeded"} and seen == ["queued", "running", "succeeded"]


async def test_follow_job_until_a_given_status() -> None:
    states = iter(["queued", "running", "succeeded"])

    async def read() -> str:
        return next(states)

    assert await follow_job(read, within=10, every=0, status=str, until=("running",)) == "running"
