"""Shared reads against the real PostgreSQL: identical reads asked for while one runs share
its query, and only while it runs; other arguments query on their own; a reader that gives up
leaves the answer to the others."""

import asyncio

import asyncpg
import pytest

from shared.db import SharedReads

pytestmark = pytest.mark.integration

# Each query run draws the next number: readers that got the same number shared one run.
_DRAW = "SELECT nextval('draws') + $1 FROM pg_sleep(0.2)"


@pytest.fixture
async def draws(pool: asyncpg.Pool) -> SharedReads:
    await pool.execute("CREATE SEQUENCE draws")
    return SharedReads(pool)


async def test_identical_reads_at_once_share_one_query(draws: SharedReads) -> None:
    together = await asyncio.gather(*(draws.fetchval(_DRAW, 0) for _ in range(5)))
    other = await asyncio.gather(draws.fetchval(_DRAW, 100), draws.fetchval(_DRAW, 0))
    later = await draws.fetchval(_DRAW, 0)
    assert together == [1] * 5
    assert {other[0] - 100, other[1]} == {2, 3}  # another argument: a query of its own
    assert later == 4  # the earlier run ended: a new one


async def test_a_reader_giving_up_leaves_the_query_to_the_others(draws: SharedReads) -> None:
    quitter = asyncio.create_task(draws.fetchrow(_DRAW, 0))
    stayer = asyncio.create_task(draws.fetchrow(_DRAW, 0))
    await asyncio.sleep(0.05)
    quitter.cancel()
    row = await stayer
    assert quitter.cancelled()
    assert row is not None and row[0] == 1


async def test_a_failed_read_fails_every_reader(draws: SharedReads) -> None:
    failing = "SELECT 1 / ($1 - 1) FROM pg_sleep(0.1)"
    outcomes = await asyncio.gather(
        *(draws.fetchval(failing, 1) for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(o, asyncpg.DivisionByZeroError) for o in outcomes)
