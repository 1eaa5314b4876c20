"""SQL of a Bayesian search's state: its sampler and counters, and every trial asked.

Everything here is written inside a transaction that holds the optimization's row lock
(store.lock_for_outcome, or the planner's), so one batch is asked once however many
workers record chunks, and a worker killed before its commit leaves nothing behind.
"""

import json
from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

from shared.db import DbConnection, DbExecutor

TrialOutcome = Literal["running", "complete", "fail"]


@dataclass(frozen=True)
class StoredTrial:
    """A trial as stored: finished (`complete` with its value, or `fail`) or still running."""

    number: int
    params: dict[str, Any]
    system_attrs: dict[str, Any]
    state: TrialOutcome
    value: float | None = None


@dataclass(frozen=True)
class SearchRow:
    search: int
    sampler: bytes
    asks: int
    evaluated: int
    batch: int
    done: bool


@dataclass(frozen=True)
class ChunkTrial:
    """A trial a chunk evaluates: its number, its place among the evaluated, its values."""

    number: int
    position: int
    params: dict[str, Any]


async def open_search(
    conn: DbConnection, optimization_id: UUID, search: int, sampler: bytes
) -> None:
    await conn.execute(
        """INSERT INTO optimization_searches (optimization_id, search, sampler)
           VALUES ($1, $2, $3)""",
        optimization_id,
        search,
        sampler,
    )


async def search_row(db: DbExecutor, optimization_id: UUID, search: int) -> SearchRow:
    row = await db.fetchrow(
        """SELECT search, sampler, asks, evaluated, batch, done FROM optimization_searches
           WHERE optimization_id = $1 AND search = $2""",
        optimization_id,
        search,
    )
    assert row is not None, (optimization_id, search)
    return SearchRow(**dict(row))


async def history(
    db: DbExecutor, optimization_id: UUID, search: int, since: int = 0
) -> list[StoredTrial]:
    """The trials asked in the search numbered from `since` on (every one by default), in
    trial order."""
    rows = await db.fetch(
        """SELECT number, params, system_attrs, state, value FROM optimization_trials
           WHERE optimization_id = $1 AND search = $2 AND number >= $3 ORDER BY number""",
        optimization_id,
        search,
        since,
    )
    return [
        StoredTrial(r["number"], r["params"], r["system_attrs"], r["state"], r["value"])
        for r in rows
    ]


async def add_trials(
    conn: DbConnection,
    optimization_id: UUID,
    search: int,
    batch: int,
    trials: list[tuple[StoredTrial, int | None, int | None]],
) -> None:
    """Trials just asked, each with its position and chunk (None for a rule break)."""
    await conn.execute(
        """INSERT INTO optimization_trials (optimization_id, search, number, batch, position,
               chunk, params, system_attrs, state)
           SELECT $1, $2, number, $3, position, chunk, params::jsonb, attrs::jsonb, state
           FROM unnest($4::int[], $5::int[], $6::int[], $7::text[], $8::text[], $9::text[])
               AS t (number, position, chunk, params, attrs, state)""",
        optimization_id,
        search,
        batch,
        [t.number for t, _, _ in trials],
        [position for _, position, _ in trials],
        [chunk for _, _, chunk in trials],
        [json.dumps(t.params) for t, _, _ in trials],
        [json.dumps(t.system_attrs) for t, _, _ in trials],
        [t.state for t, _, _ in trials],
    )


async def asked(
    conn: DbConnection, optimization_id: UUID, search: int, sampler: bytes, asks: int
) -> None:
    """The sampler after a batch's asks; the batch is the one now evaluated."""
    await conn.execute(
        """UPDATE optimization_searches SET sampler = $3, asks = asks + $4, batch = batch + 1
           WHERE optimization_id = $1 AND search = $2""",
        optimization_id,
        search,
        sampler,
        asks,
    )


async def chunk_trials(db: DbExecutor, optimization_id: UUID, chunk: int) -> list[ChunkTrial]:
    rows = await db.fetch(
        """SELECT number, position, params FROM optimization_trials
           WHERE optimization_id = $1 AND chunk = $2 ORDER BY position""",
        optimization_id,
        chunk,
    )
    return [ChunkTrial(r["number"], r["position"], r["params"]) for r in rows]


async def tell(
    conn: DbConnection, optimization_id: UUID, search: int, told: list[tuple[int, float | None]]
) -> int:
    """Running trials' outcomes as (number, value; None: failed); the search's trials still
    running after them. One statement: its final count reads the trials as they were before
    it, so the ones it told are taken off."""
    return int(
        await conn.fetchval(
            """WITH told AS (
                   UPDATE optimization_trials t SET value = o.value,
                       state = CASE WHEN o.value IS NULL THEN 'fail' ELSE 'complete' END
                   FROM unnest($3::int[], $4::float8[]) AS o (number, value)
                   WHERE t.optimization_id = $1 AND t.search = $2 AND t.number = o.number
                     AND t.state = 'running'
                   RETURNING t.number
               ), counted AS (
                   UPDATE optimization_searches
                   SET evaluated = evaluated + (SELECT count(*) FROM told)
                   WHERE optimization_id = $1 AND search = $2
               )
               SELECT count(*) - (SELECT count(*) FROM told) FROM optimization_trials
               WHERE optimization_id = $1 AND search = $2 AND state = 'running'""",
            optimization_id,
            search,
            [number for number, _ in told],
            [value for _, value in told],
        )
    )


async def end_search(
    conn: DbConnection, optimization_id: UUID, search: int, ended: str | None
) -> None:
    await conn.execute(
        """UPDATE optimization_searches SET done = true, ended = $3
           WHERE optimization_id = $1 AND search = $2""",
        optimization_id,
        search,
        ended,
    )


async def next_chunk(db: DbExecutor, optimization_id: UUID) -> int:
    """The number the next planted chunk takes."""
    return int(
        await db.fetchval(
            """SELECT coalesce(max(chunk), -1) + 1 FROM optimization_chunks
               WHERE optimization_id = $1""",
            optimization_id,
        )
    )


async def add_warning(
    conn: DbConnection, optimization_id: UUID, warning: str, units_not_run: int
) -> None:
    """Say why a search ended early, and drop the trials it will not run from the total."""
    await conn.execute(
        """UPDATE optimizations SET warnings = array_append(warnings, $2),
               progress_total = progress_total - $3
           WHERE id = $1""",
        optimization_id,
        warning,
        units_not_run,
    )


async def record_summary(
    conn: DbConnection, optimization_id: UUID, summary: dict[str, Any]
) -> None:
    await conn.execute(
        "UPDATE optimizations SET search = $2 WHERE id = $1", optimization_id, summary
    )
