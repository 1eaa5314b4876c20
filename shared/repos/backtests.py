"""Backtest jobs as stored: the request, status, metrics, trades and the equity curve."""

import io
from datetime import datetime
from typing import Any, Literal
from uuid import UUID, uuid4

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from domain.execution.settings import ExitReason
from domain.metrics.names import LOWER_IS_BETTER
from shared import trade_copy
from shared.backtest_spec import request_warnings, strategy_name
from shared.db import DbConnection, DbExecutor, Statement
from shared.job_failures import fail_job
from shared.jobs import JobStatus
from shared.messages import BacktestCompleted, BacktestFailed, RunBacktest
from shared.metric_names import Metrics
from shared.outbox import add_to_outbox, outbox_insert, outbox_values
from shared.trade_copy import TradeColumns

TRADE_COLUMNS = (
    "backtest_id",
    "seq",
    "side",
    "entry_time",
    "entry_price",
    "exit_time",
    "exit_price",
    "qty",
    "pnl",
    "return",
    "fees",
    "exit_reason",
    "funding",
    "equity_return",
    "mae",
    "mfe",
    "bars_held",
    "entry_order",
    "symbol",
)
EntryOrder = Literal["market", "limit"]


class BacktestData(BaseModel):
    """The bars a backtest actually used: its first and last traded bar, how many, and the
    stored bars before `start` that warmed its indicators."""

    first: datetime
    last: datetime
    bars: int
    warmup_bars: int


class Percentiles(BaseModel):
    p5: float
    p25: float
    p50: float
    p75: float
    p95: float


class MonteCarloView(BaseModel):
    runs: int
    seed: int
    final_equity: Percentiles
    max_drawdown: Percentiles
    prob_loss: float = Field(description="fraction of runs ending below initial_capital")


class CandlesProvenance(BaseModel):
    count: int
    first: datetime | None
    last: datetime | None
    sha256: str = Field(
        description="over each candle in time order: little-endian int64 open_time, then "
        "float64 open, high, low, close, volume, turnover"
    )


class Provenance(BaseModel):
    candles: CandlesProvenance  # every candle the run read, its warm-up included
    strategy_sha256: str
    engine_version: str
    # A portfolio's candles per symbol (`candles.sha256` is then over their sha256s in order).
    symbols: dict[str, CandlesProvenance] | None = None


class BacktestView(BaseModel):
    id: UUID
    status: JobStatus
    request: dict[str, Any]
    strategy_name: str = Field(
        description="the built-in, plugin or saved strategy's name, or an inline definition's "
        "`name`, else `expression`; what the `strategy` filter matches"
    )
    metrics: Metrics | None
    data: BacktestData | None = None
    warnings: list[str] = Field(default_factory=list)
    # Trades per exit reason, e.g. {"signal": 12, "stop_loss": 3}.
    exit_counts: dict[ExitReason, int] | None = None
    # Percentiles of final equity and drawdown over resampled trades, when asked for.
    monte_carlo: MonteCarloView | None = None
    # A portfolio's: {SYMBOL: {num_trades, pnl, fees_paid, funding_paid, exposure, win_rate}}.
    per_symbol: dict[str, dict[str, float | int | None]] | None = None
    provenance: Provenance | None = None
    rerun_of: UUID | None = None
    # A rerun's: true when candles, metrics, trades and equity are bit-identical to the
    # backtest it reran; else false, and `differences` names what differed.
    reproduced: bool | None = None
    differences: list[str] | None = None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    queued_seconds: float | None
    run_seconds: float | None


class Trade(BaseModel):
    model_config = ConfigDict(validate_by_name=True, serialize_by_alias=True)

    side: Literal["long", "short"]
    entry_time: datetime
    entry_price: float
    exit_time: datetime | None
    exit_price: float | None
    qty: float
    pnl: float
    return_: float = Field(alias="return")  # `return` is a Python keyword
    fees: float
    exit_reason: ExitReason | None = None  # `end`: still open when the data ended
    funding: float | None = None  # net funding paid, negative when received
    equity_return: float | None = Field(
        None,
        description="pnl (fees and funding included) / the equity just before the entry fill",
    )
    mae: float | None = Field(
        None, description="maximum adverse excursion from the entry price, a fraction of it"
    )
    mfe: float | None = Field(
        None, description="maximum favourable excursion from the entry price, a fraction of it"
    )
    bars_held: int | None = Field(
        None, description="bar closes after the entry fill and at or before the exit fill"
    )
    entry_order: EntryOrder | None = Field(None, description="how the entry filled")
    symbol: str | None = Field(None, description="a portfolio's: the trade's symbol")


async def create_backtest(
    db: DbExecutor,
    request: dict[str, Any],
    rerun_of: UUID | None = None,
    *,
    submission_id: UUID | None = None,
    job_id: UUID | None = None,
) -> BacktestView:
    """Insert the job (as `job_id`, or a new id) and its RunBacktest message: one statement,
    so one transaction. `submission_id` is the AMQP submission that asked for it, if one did."""
    row = await db.fetchrow(
        _INSERT_RETURNING_VIEW,
        *_insert_values(request, rerun_of, submission_id, job_id or uuid4()),
    )
    assert row is not None
    return BacktestView(**dict(row))


def insert_statement(
    request: dict[str, Any], *, submission_id: UUID | None, job_id: UUID
) -> Statement:
    """`create_backtest`'s statement, reading nothing back (for a caller that needs only the
    id, and may write many jobs at once)."""
    return Statement(_INSERT, _insert_values(request, None, submission_id, job_id))


def _insert(returning: str) -> str:
    """The job and its message in one statement, the job's `returning` columns read back."""
    return f"""WITH job AS (
                   INSERT INTO backtests (id, request, symbol, strategy, rerun_of, warnings,
                                          submission_id)
                   VALUES ($1, $2, $3, $4, $9, $10, $11)
                   RETURNING {returning}
               ), message AS ({outbox_insert(5)})
               SELECT * FROM job"""


_INSERT = _insert("id")
_INSERT_RETURNING_VIEW = _insert(
    """id, status, request, strategy AS strategy_name, metrics, data, warnings, exit_counts,
       monte_carlo, per_symbol, provenance, rerun_of, reproduced, differences, error,
       created_at, started_at, finished_at, NULL::float8 AS queued_seconds,
       NULL::float8 AS run_seconds"""
)


def _insert_values(
    request: dict[str, Any], rerun_of: UUID | None, submission_id: UUID | None, job_id: UUID
) -> tuple[Any, ...]:
    return (
        job_id,
        request,
        request.get("symbol") or request["symbols"][0],
        strategy_name(request["strategy"]),
        *outbox_values(RunBacktest(backtest_id=job_id)),
        rerun_of,
        request_warnings(request),
        submission_id,
    )


_VIEW = """SELECT id, status, request, strategy AS strategy_name, metrics, data, warnings,
                  exit_counts, monte_carlo, per_symbol, provenance, rerun_of, reproduced,
                  differences, error, created_at,
                  started_at,
                  finished_at,
                  extract(epoch FROM started_at - created_at)::float8 AS queued_seconds,
                  extract(epoch FROM finished_at - started_at)::float8 AS run_seconds
           FROM backtests"""


async def get_backtest(db: DbExecutor, backtest_id: UUID) -> BacktestView | None:
    row = await db.fetchrow(f"{_VIEW} WHERE id = $1", backtest_id)
    return BacktestView(**dict(row)) if row else None


async def list_backtests(
    db: DbExecutor,
    *,
    status: str | None,
    symbol: str | None,
    strategy: str | None,
    order_by: str | None,
    limit: int,
    offset: int,
) -> tuple[list[BacktestView], int]:
    """Newest first, or best first by the metric `order_by` (nulls last, then newest)."""
    where = """($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR symbol = $2)
               AND ($3::text IS NULL OR strategy = $3)"""
    order = "created_at DESC, id"
    if order_by is not None:
        direction = "ASC" if order_by in LOWER_IS_BETTER else "DESC"
        order = f"(metrics->>$6)::float8 {direction} NULLS LAST, {order}"
    rows = await db.fetch(
        f"{_VIEW} WHERE {where} ORDER BY {order} LIMIT $4 OFFSET $5",
        status,
        symbol,
        strategy,
        limit,
        offset,
        *([] if order_by is None else [order_by]),
    )
    total = await db.fetchval(
        f"SELECT count(*) FROM backtests WHERE {where}", status, symbol, strategy
    )
    return [BacktestView(**dict(r)) for r in rows], int(total)


async def trades_page(
    db: DbExecutor, backtest_id: UUID, *, limit: int, offset: int, symbol: str | None = None
) -> tuple[list[Trade], int]:
    """A page of the trade list; a portfolio's trades of one `symbol` when given."""
    where = "backtest_id = $1 AND ($4::text IS NULL OR symbol = $4)"
    rows = await db.fetch(
        f"""SELECT side, entry_time, entry_price, exit_time, exit_price, qty, pnl, return, fees,
                  exit_reason, funding, equity_return, mae, mfe, bars_held, entry_order, symbol
           FROM trades WHERE {where} ORDER BY seq LIMIT $2 OFFSET $3""",
        backtest_id,
        limit,
        offset,
        symbol,
    )
    total = await db.fetchval(
        "SELECT count(*) FROM trades WHERE backtest_id = $1 AND ($2::text IS NULL OR symbol = $2)",
        backtest_id,
        symbol,
    )
    return [Trade(**dict(r)) for r in rows], int(total)


async def equity_length(db: DbExecutor, backtest_id: UUID) -> int | None:
    """How many points the stored curve has; None without one."""
    points: int | None = await db.fetchval(
        "SELECT points FROM equity WHERE backtest_id = $1", backtest_id
    )
    return points


async def equity_slice(
    db: DbExecutor, backtest_id: UUID, first: int, count: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]] | None:
    """Points [first, first + count) of the curve; the arrays are stored uncompressed, so
    PostgreSQL reads only the slice. None if the curve is gone."""
    row = await db.fetchrow(
        """SELECT substring(times FROM $2 FOR $3) AS times,
                  substring(values FROM $2 FOR $3) AS values
           FROM equity WHERE backtest_id = $1""",
        backtest_id,
        first * 8 + 1,
        count * 8,
    )
    if row is None:
        return None
    return np.frombuffer(row["times"], "<i8"), np.frombuffer(row["values"], "<f8")


async def claim_backtest(db: DbExecutor, backtest_id: UUID) -> dict[str, Any] | None:
    """Mark a queued (or interrupted) backtest running; its request, or None if settled."""
    request: dict[str, Any] | None = await db.fetchval(
        """UPDATE backtests SET status = 'running', started_at = coalesce(started_at, now())
           WHERE id = $1 AND status IN ('queued', 'running') RETURNING request""",
        backtest_id,
    )
    return request


async def store_result(
    conn: DbConnection,
    backtest_id: UUID,
    metrics: dict[str, float | int | None],
    trades: TradeColumns,
    times: npt.NDArray[np.int64],
    equity: npt.NDArray[np.float64],
    *,
    data: dict[str, Any],
    warnings: list[str],
    exit_counts: dict[str, int],
    monte_carlo: dict[str, Any] | None = None,
    provenance: dict[str, Any] | None = None,
    digests: dict[str, str] | None = None,
    differences: list[str] | None = None,
    per_symbol: dict[str, Any] | None = None,
) -> bool:
    """Write metrics, trades and equity (and what data it used, with warnings; a rerun's
    `differences` from the backtest it reran) and mark it succeeded, in one transaction;
    False if the backtest was cancelled or deleted meanwhile (nothing is written then)."""
    async with conn.transaction():
        job = await conn.fetchrow(
            "SELECT status, submission_id FROM backtests WHERE id = $1 FOR UPDATE", backtest_id
        )
        if job is None or job["status"] != "running":
            return False
        # A redelivered job may have written part of this before a crash: start clean.
        await conn.execute("DELETE FROM trades WHERE backtest_id = $1", backtest_id)
        await conn.execute("DELETE FROM equity WHERE backtest_id = $1", backtest_id)
        await conn.copy_to_table(
            "trades",
            source=io.BytesIO(trade_copy.encode(backtest_id, trades)),
            columns=list(TRADE_COLUMNS),
            format="binary",
        )
        await conn.execute(
            "INSERT INTO equity (backtest_id, points, times, values) VALUES ($1, $2, $3, $4)",
            backtest_id,
            len(times),
            times.astype("<i8").tobytes(),
            equity.astype("<f8").tobytes(),
        )
        await conn.execute(
            """UPDATE backtests SET status = 'succeeded', metrics = $2, data = $3, warnings = $4,
                   exit_counts = $5, monte_carlo = $6, provenance = $7, digests = $8,
                   differences = $9, reproduced = $10, per_symbol = $11,
                   finished_at = now(), error = NULL WHERE id = $1""",
            backtest_id,
            metrics,
            data,
            warnings,
            exit_counts,
            monte_carlo,
            provenance,
            digests,
            differences,
            None if differences is None else not differences,
            per_symbol,
        )
        event = BacktestCompleted(
            job_id=backtest_id, submission_id=job["submission_id"], metrics=metrics
        )
        await add_to_outbox(conn, event)
    return True


async def rerun_source(db: DbExecutor, backtest_id: UUID) -> dict[str, str] | None:
    """The digests of the backtest that `backtest_id` reruns, with the `equity` one from its
    stored curve when it has none (its times then values, as `provenance.equity_sha256`);
    None when it is no rerun, or the backtest it reran is gone or has no digests."""
    digests: dict[str, str] | None = await db.fetchval(
        """SELECT CASE WHEN source.digests ? 'equity' THEN source.digests
                  ELSE source.digests || coalesce((
                      SELECT jsonb_build_object('equity', encode(sha256(times || values), 'hex'))
                      FROM equity WHERE equity.backtest_id = source.id), '{}') END
           FROM backtests rerun
           JOIN backtests source ON source.id = rerun.rerun_of WHERE rerun.id = $1""",
        backtest_id,
    )
    return digests


async def fail_backtest(conn: DbConnection, backtest_id: UUID, error: str) -> None:
    event = BacktestFailed(job_id=backtest_id, error=error)
    await fail_job(conn, "backtests", backtest_id, error, event)
