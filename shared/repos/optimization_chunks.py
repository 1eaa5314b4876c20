"""SQL of an optimization's chunks: planting them, taking one, and recording its outcome.

Every outcome is written in one transaction that first locks the optimization's row, so
chunk completions on any number of workers are serialized: the one that finds no chunk left
is the one that finishes the optimization, and a chunk already done (a redelivery after a
worker died between commit and ack) is recognized and written nowhere.
"""

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import numpy as np
import numpy.typing as npt

from domain.optimization.plan import ChunkPlan, Stage
from shared.db import DbConnection, DbExecutor
from shared.messages import RunOptimizationChunk
from shared.outbox import add_all_to_outbox, add_to_outbox

CHUNK_COLUMNS = (
    "optimization_id",
    "chunk",
    "stage",
    "window_index",
    "set_from",
    "set_to",
    "status",
)


@dataclass(frozen=True)
class ChunkWork:
    """A chunk to run, with what its optimization was planned on."""

    optimization_id: UUID
    chunk: int
    stage: Stage
    window: int | None
    set_from: int
    set_to: int
    chosen: dict[str, Any] | None  # a test chunk's {"index", "params", "metrics"} of training
    request: dict[str, Any]
    bars: int
    data_end: datetime
    warmup: int  # stored bars before the range's start, loaded before its `bars`


async def plant_chunks(
    conn: DbConnection,
    optimization_id: UUID,
    chunks: list[ChunkPlan],
    *,
    bars: int,
    data_end: datetime,
    warmup: int,
    total: int,
) -> None:
    """Store the plan, mark the optimization running and queue every chunk that can start
    (test chunks wait for their window's training); call inside the planning transaction."""
    await conn.execute(
        """UPDATE optimizations SET status = 'running', started_at = now(), bars = $2,
               data_end = $3, warmup_bars = $4, progress_total = $5 WHERE id = $1""",
        optimization_id,
        bars,
        data_end,
        warmup,
        total,
    )
    await queue_chunks(conn, optimization_id, chunks)


async def queue_chunks(conn: DbConnection, optimization_id: UUID, chunks: list[ChunkPlan]) -> None:
    """Store chunks and queue those that can start (a test chunk waits for its training)."""
    if not chunks:
        return
    await conn.copy_records_to_table(
        "optimization_chunks",
        records=[
            (
                optimization_id,
                c.chunk,
                c.stage,
                c.window,
                c.set_from,
                c.set_to,
                "waiting" if c.stage == "test" else "pending",
            )
            for c in chunks
        ],
        columns=list(CHUNK_COLUMNS),
    )
    await add_all_to_outbox(
        conn,
        [
            RunOptimizationChunk(optimization_id=optimization_id, chunk=c.chunk)
            for c in chunks
            if c.stage != "test"
        ],
    )


async def chunk_work(db: DbExecutor, optimization_id: UUID, chunk: int) -> ChunkWork | None:
    """The chunk if it is still to do in a running optimization, else None (drop it)."""
    row = await db.fetchrow(
        """SELECT c.stage, c.window_index, c.set_from, c.set_to, c.params, o.request, o.bars,
                  o.data_end, o.warmup_bars
           FROM optimization_chunks c JOIN optimizations o ON o.id = c.optimization_id
           WHERE c.optimization_id = $1 AND c.chunk = $2 AND c.status = 'pending'
             AND o.status = 'running'""",
        optimization_id,
        chunk,
    )
    if row is None:
        return None
    return ChunkWork(
        optimization_id,
        chunk,
        row["stage"],
        row["window_index"],
        row["set_from"],
        row["set_to"],
        row["params"],
        row["request"],
        row["bars"],
        row["data_end"],
        row["warmup_bars"],
    )


async def lock_for_outcome(conn: DbConnection, work: ChunkWork) -> bool:
    """Lock the optimization; True if it still runs and this chunk is not done yet.

    Call first in the outcome's transaction."""
    status = await conn.fetchval(
        "SELECT status FROM optimizations WHERE id = $1 FOR UPDATE", work.optimization_id
    )
    if status != "running":
        return False
    chunk_status = await conn.fetchval(
        "SELECT status FROM optimization_chunks WHERE optimization_id = $1 AND chunk = $2",
        work.optimization_id,
        work.chunk,
    )
    return bool(chunk_status == "pending")


async def insert_rows(
    conn: DbConnection, optimization_id: UUID, rows: list[tuple[str, int, dict[str, Any]]]
) -> None:
    """Result rows as (key, position in the ranking's tie-break, row)."""
    # One statement for the whole chunk; the chunk's status guards against a second write.
    await conn.execute(
        """INSERT INTO optimization_results (optimization_id, row_key, position, row)
           SELECT $1, key, position, row::jsonb
           FROM unnest($2::text[], $3::int[], $4::text[]) AS r (key, position, row)""",
        optimization_id,
        [key for key, _, _ in rows],
        [position for _, position, _ in rows],
        [json.dumps(row) for _, _, row in rows],
    )


async def mark_done(
    conn: DbConnection,
    work: ChunkWork,
    units: int,
    result: dict[str, Any] | None = None,
    curve: tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]] | None = None,
    statistics: bytes | None = None,
) -> None:
    times, equity = curve if curve is not None else (None, None)
    await conn.execute(
        """UPDATE optimization_chunks SET status = 'done', result = $3, times = $4, equity = $5,
               statistics = $6
           WHERE optimization_id = $1 AND chunk = $2""",
        work.optimization_id,
        work.chunk,
        result,
        None if times is None else times.astype("<i8").tobytes(),
        None if equity is None else equity.astype("<f8").tobytes(),
        statistics,
    )
    await conn.execute(
        "UPDATE optimizations SET progress_done = progress_done + $2 WHERE id = $1",
        work.optimization_id,
        units,
    )


async def chunks_left(db: DbExecutor, optimization_id: UUID, window: int | None = None) -> int:
    """Chunks not done (of one window's training, if `window` is given)."""
    return int(
        await db.fetchval(
            """SELECT count(*) FROM optimization_chunks
               WHERE optimization_id = $1 AND status <> 'done'
                 AND ($2::int IS NULL OR (window_index = $2 AND stage = 'train'))""",
            optimization_id,
            window,
        )
    )


async def train_results(db: DbExecutor, optimization_id: UUID, window: int) -> list[dict[str, Any]]:
    rows = await db.fetch(
        """SELECT result FROM optimization_chunks
           WHERE optimization_id = $1 AND window_index = $2 AND stage = 'train'""",
        optimization_id,
        window,
    )
    return [r["result"] for r in rows]


async def record_provenance(
    db: DbExecutor, optimization_id: UUID, provenance: dict[str, Any]
) -> None:
    """What the optimization ran on; the first worker's record stands (all load the same)."""
    await db.execute(
        "UPDATE optimizations SET provenance = $2 WHERE id = $1 AND provenance IS NULL",
        optimization_id,
        provenance,
    )


async def chunk_statistics(
    db: DbExecutor, optimization_id: UUID, window: int | None = None
) -> list[bytes]:
    """The per-set statistics of a grid's chunks (of one window's training, if given)."""
    rows = await db.fetch(
        """SELECT statistics FROM optimization_chunks
           WHERE optimization_id = $1 AND statistics IS NOT NULL
             AND ($2::int IS NULL OR (window_index = $2 AND stage = 'train'))
           ORDER BY set_from""",
        optimization_id,
        window,
    )
    return [r["statistics"] for r in rows]


async def release_test(
    conn: DbConnection, optimization_id: UUID, window: int, chosen: dict[str, Any]
) -> None:
    """Give the window's test chunk its chosen set and queue it."""
    chunk = await conn.fetchval(
        """UPDATE optimization_chunks SET params = $3, status = 'pending'
           WHERE optimization_id = $1 AND window_index = $2 AND stage = 'test'
           RETURNING chunk""",
        optimization_id,
        window,
        chosen,
    )
    await add_to_outbox(conn, RunOptimizationChunk(optimization_id=optimization_id, chunk=chunk))
