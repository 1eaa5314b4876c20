"""Optimization jobs as stored: request, progress, best row, and one result row per set/window."""

from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from domain.optimization.ranking import order_sql
from shared.backtest_spec import request_warnings
from shared.db import DbConnection, DbExecutor, Statement
from shared.job_failures import fail_job
from shared.jobs import JobStatus
from shared.messages import OptimizationCompleted, OptimizationFailed, StartOptimization
from shared.metric_names import Metrics
from shared.optimization_spec import OptimizationKind
from shared.outbox import add_to_outbox, outbox_insert, outbox_values
from shared.repos.backtests import Provenance


class Progress(BaseModel):
    done: int
    total: int


def _absent_when_null() -> Any:
    # A grid row has no window fields and a window no `metrics`: omitted, not null.
    return Field(None, exclude_if=lambda value: value is None)


class Robustness(BaseModel):
    """How likely a grid's best set is luck (docs/simulation.md); null where undefined."""

    trials: int = Field(description="parameter sets evaluated")
    dsr: float | None = Field(None, description="deflated Sharpe ratio of the best set")
    pbo: float | None = Field(None, description="probability of backtest overfitting (CSCV)")
    prob_oos_loss: float | None = Field(
        None, description="fraction of CSCV splits whose in-sample best loses out of sample"
    )


class ResultRow(BaseModel):
    """A grid row (`params`, `metrics`), a Bayesian search's trial (`trial`, `params`,
    `metrics`) or a walk-forward window (`window`, its bars' times, `params`,
    `train_metrics`, `test_metrics`)."""

    model_config = ConfigDict(extra="allow")

    trial: int | None = _absent_when_null()  # Optuna's trial number
    params: dict[str, Any]
    metrics: Metrics | None = _absent_when_null()
    window: int | None = _absent_when_null()
    train_start: datetime | None = _absent_when_null()
    train_end: datetime | None = _absent_when_null()
    test_start: datetime | None = _absent_when_null()
    test_end: datetime | None = _absent_when_null()
    train_metrics: Metrics | None = _absent_when_null()
    test_metrics: Metrics | None = _absent_when_null()
    robustness: Robustness | None = _absent_when_null()  # a window's, for its train grid


class SearchSummary(BaseModel):
    """A Bayesian search once finished: how it went, and which parameters mattered."""

    model_config = ConfigDict(extra="allow")

    trials: int = Field(description="trials evaluated")
    asks: int = Field(description="sets Optuna was asked for, rule breaks included")
    rule_breaks: int = Field(description="sampled sets that broke the strategy's rules")
    batches: int
    sampler: str
    seed: int
    importance: dict[str, float] | None = Field(
        None, description="Optuna's get_param_importances (PED-ANOVA), summing to 1"
    )


class WalkForwardSummary(BaseModel):
    model_config = ConfigDict(extra="allow")

    windows: int
    test_metrics: Metrics | None = None


class OptimizationView(BaseModel):
    id: UUID
    status: JobStatus
    kind: OptimizationKind
    request: dict[str, Any]
    strategy_name: str = Field(
        description="the built-in, plugin or saved strategy's name, or an inline definition's "
        "`name`, else `expression`; what the `strategy` filter matches"
    )
    progress: Progress
    skipped: int
    best: ResultRow | None
    walk_forward: WalkForwardSummary | None
    robustness: Robustness | None = None  # a grid's; a walk-forward has one per window
    search: SearchSummary | None = None  # a Bayesian search's
    warnings: list[str] = Field(
        default_factory=list,
        description="what the request accepted may still have wrong, and why a search ended early",
    )
    provenance: Provenance | None = None
    error: str | None
    created_at: datetime

    @property
    def walk_forward_plan(self) -> bool:
        """Whether it runs walk-forward windows (kind walk_forward, or bayes with them)."""
        return self.kind == "walk_forward" or (
            self.kind == "bayes" and self.request.get("walk_forward") is not None
        )

    started_at: datetime | None
    finished_at: datetime | None


async def create_optimization(
    conn: DbConnection,
    kind: str,
    request: dict[str, Any],
    total: int,
    skipped: int,
    *,
    submission_id: UUID | None = None,
    job_id: UUID | None = None,
) -> UUID:
    """Insert the job (as `job_id`, or a new id) and its StartOptimization message;
    `submission_id` is the AMQP submission that asked for it, if one did."""
    optimization_id = job_id or uuid4()
    statement = insert_statement(
        kind, request, total, skipped, submission_id=submission_id, job_id=optimization_id
    )
    await statement.run(conn)
    return optimization_id


def insert_statement(
    kind: str,
    request: dict[str, Any],
    total: int,
    skipped: int,
    *,
    submission_id: UUID | None,
    job_id: UUID,
) -> Statement:
    """The job and its StartOptimization message in one statement (so one transaction)."""
    return Statement(
        f"""WITH job AS (
                INSERT INTO optimizations (id, kind, request, progress_total, skipped,
                                           submission_id)
                VALUES ($1, $2, $3, $4, $5, $6)
                RETURNING id
            ), message AS ({outbox_insert(7)})
            SELECT id FROM job""",
        (
            job_id,
            kind,
            request,
            total,
            skipped,
            submission_id,
            *outbox_values(StartOptimization(optimization_id=job_id)),
        ),
    )


# shared.backtest_spec.strategy_name, in SQL: so the list's `strategy` filter matches it.
_STRATEGY_NAME = """coalesce(request->'backtest'->'strategy'->>'saved_as',
                             request->'backtest'->'strategy'->>'name',
                             request->'backtest'->'strategy'->'definition'->>'name',
                             'expression')"""
_VIEW = f"""SELECT id, status, kind, request, {_STRATEGY_NAME} AS strategy_name,
                  progress_done, progress_total, skipped, best,
                  walk_forward, robustness, search, warnings, provenance, error, created_at,
                  started_at, finished_at
           FROM optimizations"""


def _view(row: asyncpg.Record) -> OptimizationView:
    data = dict(row)
    data["progress"] = Progress(done=data.pop("progress_done"), total=data.pop("progress_total"))
    stored = list(data.get("warnings") or [])
    data["warnings"] = request_warnings(data["request"].get("backtest") or {}) + stored
    return OptimizationView(**data)


async def lock_for_planning(db: DbConnection, optimization_id: UUID) -> asyncpg.Record | None:
    """Its `status` and `request`, the row locked until the planner's transaction ends."""
    row: asyncpg.Record | None = await db.fetchrow(
        "SELECT status, request FROM optimizations WHERE id = $1 FOR UPDATE", optimization_id
    )
    return row


async def get_optimization(db: DbExecutor, optimization_id: UUID) -> OptimizationView | None:
    row = await db.fetchrow(f"{_VIEW} WHERE id = $1", optimization_id)
    return None if row is None else _view(row)


async def list_optimizations(
    db: DbExecutor,
    *,
    status: str | None,
    kind: str | None,
    symbol: str | None,
    strategy: str | None,
    limit: int,
    offset: int,
) -> tuple[list[OptimizationView], int]:
    """Newest first."""
    where = f"""($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR kind = $2)
               AND ($3::text IS NULL OR request->'backtest'->>'symbol' = $3)
               AND ($4::text IS NULL OR {_STRATEGY_NAME} = $4)"""
    rows = await db.fetch(
        f"""{_VIEW} WHERE {where} ORDER BY created_at DESC, id LIMIT $5 OFFSET $6""",
        status,
        kind,
        symbol,
        strategy,
        limit,
        offset,
    )
    total = await db.fetchval(
        f"SELECT count(*) FROM optimizations WHERE {where}", status, kind, symbol, strategy
    )
    return [_view(r) for r in rows], int(total)


# Rows written before `position` existed come last among equals, in row_key order.
_TIE_BREAK = "position, row_key"


def _order_sql(kind: str, metric: str) -> str:
    # Rows keep their metrics in JSON; walk-forward rows are ranked by their test metrics
    # (`kind` "walk_forward" for a walk-forward of any search).
    source = "test_metrics" if kind == "walk_forward" else "metrics"
    return order_sql(f"row->'{source}'", metric, _TIE_BREAK)


async def results_page(
    db: DbExecutor, optimization_id: UUID, kind: str, order_by: str, *, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """Rows ranked best first by `order_by` (a metric key, validated by the caller)."""
    order = _TIE_BREAK if order_by in ("window", "trial") else _order_sql(kind, order_by)
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


async def best_position(
    db: DbExecutor, optimization_id: UUID, kind: str, objective: str
) -> int | None:
    """The grid position of the top row by `objective` (the row `best_row` answers)."""
    position: int | None = await db.fetchval(
        f"""SELECT position FROM optimization_results WHERE optimization_id = $1
            ORDER BY {_order_sql(kind, objective)} LIMIT 1""",
        optimization_id,
    )
    return position


async def last_window_row(db: DbExecutor, optimization_id: UUID) -> dict[str, Any] | None:
    """A walk-forward's row of its last window."""
    row: dict[str, Any] | None = await db.fetchval(
        """SELECT row FROM optimization_results WHERE optimization_id = $1
           ORDER BY position DESC LIMIT 1""",
        optimization_id,
    )
    return row


async def finish_optimization(
    conn: DbConnection,
    optimization_id: UUID,
    best: dict[str, Any] | None,
    walk_forward: dict[str, Any] | None,
    *,
    robustness: dict[str, Any] | None = None,
) -> None:
    """Mark it succeeded; call inside the transaction that recorded its last result."""
    submission_id = await conn.fetchval(
        """UPDATE optimizations SET status = 'succeeded', best = $2, walk_forward = $3,
               robustness = $4, finished_at = now(), error = NULL WHERE id = $1
           RETURNING submission_id""",
        optimization_id,
        best,
        walk_forward,
        robustness,
    )
    event = OptimizationCompleted(
        job_id=optimization_id, submission_id=submission_id, best=best, robustness=robustness
    )
    await add_to_outbox(conn, event)


async def fail_optimization(conn: DbConnection, optimization_id: UUID, error: str) -> None:
    """Mark it failed with `error` unless it has settled already."""
    event = OptimizationFailed(job_id=optimization_id, error=error)
    await fail_job(conn, "optimizations", optimization_id, error, event)


async def test_outcomes(
    db: DbExecutor, optimization_id: UUID
) -> list[tuple[dict[str, Any], npt.NDArray[np.int64], npt.NDArray[np.float64]]]:
    """Each window's test result with its times and equity, in window order."""
    rows = await db.fetch(
        """SELECT result, times, equity FROM optimization_chunks
           WHERE optimization_id = $1 AND stage = 'test' ORDER BY window_index""",
        optimization_id,
    )
    return [
        (r["result"], np.frombuffer(r["times"], "<i8"), np.frombuffer(r["equity"], "<f8"))
        for r in rows
    ]
