"""Jobs committed a group per transaction (the AMQP submissions' path): each job created once
per key, a key used twice in one group answered with one job, a job failing by itself costing
only itself, and a caller that gave up before its group started creating nothing."""

import asyncio
import uuid

import asyncpg
import pytest
from pydantic import BaseModel

from services.api.commit_groups import CommitGroups
from services.api.errors import Unprocessable
from services.api.idempotency import Creation, Submission
from shared.db import Statement

pytestmark = pytest.mark.integration


class Body(BaseModel):
    n: int | None


def _creation(key: str | None, n: int | None, *, fails: bool = False) -> Creation:
    """A job of number `n` (None: one the database refuses); `fails`: one that fails before
    it reaches the database."""

    def insert(job_id: uuid.UUID) -> Statement:
        if fails:
            raise ValueError(f"job {n} fails by itself")
        return Statement("INSERT INTO grouped_jobs (id, n) VALUES ($1, $2)", (job_id, n))

    return Creation("grouped", key, "id", Body(n=n), insert)


@pytest.fixture
async def jobs_table(pool: asyncpg.Pool) -> None:
    await pool.execute("CREATE TABLE grouped_jobs (id uuid PRIMARY KEY, n int NOT NULL)")


async def _jobs(pool: asyncpg.Pool) -> dict[uuid.UUID, int]:
    rows = await pool.fetch("SELECT id, n FROM grouped_jobs")
    return {row["id"]: row["n"] for row in rows}


async def test_each_job_is_created_once_and_a_key_twice_in_a_burst_names_one_job(
    pool: asyncpg.Pool, jobs_table: None
) -> None:
    commits = CommitGroups(pool, largest=8, at_once=2)
    numbers = [*range(40), 7, 100]
    keys = [f"key-{n}" for n in range(40)] + ["key-7", None]
    creations = [_creation(key, n) for key, n in zip(keys, numbers, strict=True)]
    outcomes = await asyncio.gather(*(commits.create_once(c) for c in creations))
    jobs = await _jobs(pool)
    assert len(jobs) == 41  # 40 keys and the one without a key
    assert [jobs[o.job_id] for o in outcomes] == numbers
    first, again = outcomes[7], outcomes[40]
    assert again.job_id == first.job_id
    assert [first.replayed, again.replayed].count(True) == 1
    keys = await pool.fetchval("SELECT count(*) FROM idempotency_keys WHERE scope = 'grouped'")
    assert keys == 40


async def test_a_job_failing_by_itself_costs_only_itself(
    pool: asyncpg.Pool, jobs_table: None
) -> None:
    commits = CommitGroups(pool, largest=16, at_once=1)
    creations = [_creation(f"key-{n}", n, fails=n == 3) for n in range(10)]
    # A key reused for another request is refused, the rest of its group created.
    creations.append(_creation("key-5", 55))
    outcomes = await asyncio.gather(
        *(commits.create_once(c) for c in creations), return_exceptions=True
    )
    assert isinstance(outcomes[3], ValueError)
    assert isinstance(outcomes[10], Unprocessable)
    created = [o for o in outcomes if isinstance(o, Submission)]
    assert len(created) == 9
    assert sorted((await _jobs(pool)).values()) == [0, 1, 2, 4, 5, 6, 7, 8, 9]


async def test_a_job_the_database_refuses_costs_only_itself(
    pool: asyncpg.Pool, jobs_table: None
) -> None:
    # The group's jobs are written in one round trip, which the refused one fails as a whole.
    commits = CommitGroups(pool, largest=16, at_once=1)
    numbers = [0, 1, None, 3, 4]
    outcomes = await asyncio.gather(
        *(commits.create_once(_creation(f"key-{i}", n)) for i, n in enumerate(numbers)),
        return_exceptions=True,
    )
    assert isinstance(outcomes[2], asyncpg.NotNullViolationError)
    assert all(isinstance(o, Submission) for i, o in enumerate(outcomes) if i != 2)
    assert sorted((await _jobs(pool)).values()) == [0, 1, 3, 4]
    keys = await pool.fetch("SELECT key FROM idempotency_keys WHERE scope = 'grouped'")
    assert sorted(row["key"] for row in keys) == ["key-0", "key-1", "key-3", "key-4"]


async def test_a_caller_that_gave_up_before_its_group_creates_nothing(
    pool: asyncpg.Pool, jobs_table: None
) -> None:
    commits = CommitGroups(pool, largest=4, at_once=1)
    # The first group holds the only runner (its insert waits on a lock) while the next job
    # waits for it; that job's caller gives up meanwhile.
    async with pool.acquire() as holder, holder.transaction():
        await holder.execute("LOCK TABLE grouped_jobs IN EXCLUSIVE MODE")
        first = asyncio.create_task(commits.create_once(_creation("first", 1)))
        await asyncio.sleep(0.2)
        given_up = asyncio.create_task(commits.create_once(_creation("given-up", 2)))
        await asyncio.sleep(0.2)
        given_up.cancel()
    assert (await first).replayed is False
    assert sorted((await _jobs(pool)).values()) == [1]
    claimed = await pool.fetchval("SELECT count(*) FROM idempotency_keys WHERE key = 'given-up'")
    assert claimed == 0
