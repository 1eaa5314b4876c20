"""Optimization jobs as stored: request, progress, best row, and one result row per set/window."""

from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from pydantic import BaseModel

from shared.db import DbConnection, DbExecutor
from shared.job_failures import fail_job
from shared.messages import OptimizationCompleted, OptimizationFailed, StartOptimization
from shared.metric_names import LOWER_IS_BETTER
from shared.outbox import add_to_outbox


class Progress(BaseModel):
    done: int
    total: int


class OptimizationView(BaseModel):
    id: UUID
    status: str
    kind: str
    request: dict[str, Any]
    progress: Progress
    skipped: int
    best: dict[str, Any] | None
    walk_forward: dict[str, Any] | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


async def create_optimization(
    conn: DbConnection, kind: str, request: dict[str, Any], total: int, skipped: int
) -> UUID:
    """Insert the job and its StartOptimization message in one transaction."""
    optimization_id = uuid4()
    async with conn.transaction():
        await conn.execute(
            """INSERT INTO optimizations (id, kind, request, progress_total, skipped)
               VALUES ($1, $2, $3, $4, $5)""",
            optimization_id,
            kind,
            request,
            total,
            skipped,
        )
        await add_to_outbox(conn, StartOptimization(optimization_id=optimization_id))
    return optimization_id


async def get_optimization(db: DbExecutor, optimization_id: UUID) -> OptimizationView | None:
    row = await db.fetchrow(
        """SELECT id, status, kind, request, progress_done, progress_total, skipped, best,
                  walk_forward, error, created_at, started_at, finished_at
           FROM optimizations WHERE id = $1""",
        optimization_id,
    )
    if row is None:
        return None
    data = dict(row)
    data["progress"] = Progress(done=data.pop("progress_done"), total=data.pop("progress_total"))
    return OptimizationView(**data)


def _order_sql(kind: str, metric: str) -> str:
    # Rows keep their metrics in JSON; walk-forward rows are ranked by their test metrics.
    source = "test_metrics" if kind == "walk_forward" else "metrics"
    direction = "ASC" if metric in LOWER_IS_BETTER else "DESC"
    return f"(row->'{source}'->>'{metric}')::float8 {direction} NULLS LAST, row_key"


async def results_page(
    db: DbExecutor, optimization_id: UUID, kind: str, order_by: str, *, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """Rows ranked best first by `order_by` (a metric key, validated by the caller)."""
    order = "(row->>'window')::int, row_key" if order_by == "window" else _order_sql(kind, order_by)
    rows = await db.fetch(
        f"""SELECT row FROM optimization_results WHERE optimization_id = $1
            ORDER BY {order} LIMIT $2 OFFSET $3""",
        optimization_id,
        limit,
        offset,
    )
    total = await db.fetchval(
        "SELECT count(*) FROM optimization_results WHERE optimization_id = $1", optimization_id
    )
    return [r["row"] for r in rows], int(total)


async def cancel_optimization(db: DbExecutor, optimization_id: UUID) -> str | None:
    """Cancel if still queued or running; returns the status after, or None if unknown."""
    status: str | None = await db.fetchval(
        """UPDATE optimizations SET status = CASE WHEN status IN ('queued', 'running')
                THEN 'cancelled' ELSE status END,
               finished_at = CASE WHEN status IN ('queued', 'running') THEN now()
                ELSE finished_at END
           WHERE id = $1 RETURNING status""",
        optimization_id,
    )
    return status


async def best_row(
    db: DbExecutor, optimization_id: UUID, kind: str, objective: str
) -> dict[str, Any] | None:
    """The top result row by `objective`, ranked as `results_page` ranks them."""
    row: dict[str, Any] | None = await db.fetchval(
        f"""SELECT row FROM optimization_results WHERE optimization_id = $1
            ORDER BY {_order_sql(kind, objective)} LIMIT 1""",
        optimization_id,
    )
    return row


async def finish_optimization(
    conn: DbConnection,
    optimization_id: UUID,
    best: dict[str, Any] | None,
    walk_forward: dict[str, Any] | None,
) -> None:
    """Mark it succeeded; call inside the transaction that recorded its last result."""
    await conn.execute(
        """UPDATE optimizations SET status = 'succeeded', best = $2, walk_forward = $3,
               finished_at = now(), error = NULL WHERE id = $1""",
        optimization_id,
        best,
        walk_forward,
    )
    await add_to_outbox(conn, OptimizationCompleted(optimization_id=optimization_id))


async def fail_optimization(conn: DbConnection, optimization_id: UUID, error: str) -> None:
    """Mark it failed with `error` unless it has settled already."""
    event = OptimizationFailed(optimization_id=optimization_id, error=error)
    await fail_job(conn, "optimizations", optimization_id, error, event)
