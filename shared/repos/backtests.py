"""Backtest jobs as stored: the request, status, metrics, trades and the equity curve."""

from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from shared.db import DbConnection, DbExecutor
from shared.job_failures import fail_job
from shared.jobs import TERMINAL_STATUSES
from shared.messages import BacktestCompleted, BacktestFailed, RunBacktest
from shared.outbox import add_to_outbox, outbox_insert, outbox_values

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
)


class BacktestView(BaseModel):
    id: UUID
    status: str
    request: dict[str, Any]
    metrics: dict[str, float | int | None] | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    queued_seconds: float | None
    run_seconds: float | None


class Trade(BaseModel):
    model_config = ConfigDict(validate_by_name=True, serialize_by_alias=True)

    side: str
    entry_time: datetime
    entry_price: float
    exit_time: datetime | None
    exit_price: float | None
    qty: float
    pnl: float
    return_: float = Field(alias="return")  # `return` is a Python keyword
    fees: float


async def create_backtest(db: DbExecutor, request: dict[str, Any]) -> BacktestView:
    """Insert the job and its RunBacktest message: one statement, so one transaction."""
    backtest_id = uuid4()
    row = await db.fetchrow(
        f"""WITH job AS (
                INSERT INTO backtests (id, request, symbol, strategy) VALUES ($1, $2, $3, $4)
                RETURNING id, status, request, metrics, error, created_at, started_at,
                          finished_at, NULL::float8 AS queued_seconds, NULL::float8 AS run_seconds
            ), message AS ({outbox_insert(5)})
            SELECT * FROM job""",
        backtest_id,
        request,
        request["symbol"],
        request["strategy"]["name"],
        *outbox_values(RunBacktest(backtest_id=backtest_id)),
    )
    assert row is not None
    return BacktestView(**dict(row))


_VIEW = """SELECT id, status, request, metrics, error, created_at, started_at, finished_at,
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
    limit: int,
    offset: int,
) -> tuple[list[BacktestView], int]:
    where = """($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR symbol = $2)
               AND ($3::text IS NULL OR strategy = $3)"""
    rows = await db.fetch(
        f"{_VIEW} WHERE {where} ORDER BY created_at DESC, id LIMIT $4 OFFSET $5",
        status,
        symbol,
        strategy,
        limit,
        offset,
    )
    total = await db.fetchval(
        f"SELECT count(*) FROM backtests WHERE {where}", status, symbol, strategy
    )
    return [BacktestView(**dict(r)) for r in rows], int(total)


async def trades_page(
    db: DbExecutor, backtest_id: UUID, *, limit: int, offset: int
) -> tuple[list[Trade], int]:
    rows = await db.fetch(
        """SELECT side, entry_time, entry_price, exit_time, exit_price, qty, pnl, return, fees
           FROM trades WHERE backtest_id = $1 ORDER BY seq LIMIT $2 OFFSET $3""",
        backtest_id,
        limit,
        offset,
    )
    total = await db.fetchval("SELECT count(*) FROM trades WHERE backtest_id = $1", backtest_id)
    return [Trade(**dict(r)) for r in rows], int(total)


async def equity_curve(
    db: DbExecutor, backtest_id: UUID
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]] | None:
    row = await db.fetchrow("SELECT times, values FROM equity WHERE backtest_id = $1", backtest_id)
    if row is None:
        return None
    return np.frombuffer(row["times"], "<i8"), np.frombuffer(row["values"], "<f8")


async def cancel_or_delete(db: DbConnection, backtest_id: UUID) -> str | None:
    """Cancel a queued or running backtest, else delete it with its results.

    Returns "cancelled", "deleted", or None if there is no such backtest."""
    async with db.transaction():
        status = await db.fetchval(
            "SELECT status FROM backtests WHERE id = $1 FOR UPDATE", backtest_id
        )
        if status is None:
            return None
        if status in TERMINAL_STATUSES:
            await db.execute("DELETE FROM backtests WHERE id = $1", backtest_id)
            return "deleted"
        await db.execute(
            """UPDATE backtests SET status = 'cancelled', finished_at = now(),
                   error = 'cancelled by request' WHERE id = $1""",
            backtest_id,
        )
        return "cancelled"


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
    trades: list[tuple[Any, ...]],
    times: npt.NDArray[np.int64],
    equity: npt.NDArray[np.float64],
) -> bool:
    """Write metrics, trades and equity and mark it succeeded, in one transaction; False if
    the backtest was cancelled or deleted meanwhile (nothing is written then)."""
    async with conn.transaction():
        still_running = await conn.fetchval(
            "SELECT status = 'running' FROM backtests WHERE id = $1 FOR UPDATE", backtest_id
        )
        if not still_running:
            return False
        # A redelivered job may have written part of this before a crash: start clean.
        await conn.execute("DELETE FROM trades WHERE backtest_id = $1", backtest_id)
        await conn.execute("DELETE FROM equity WHERE backtest_id = $1", backtest_id)
        await conn.copy_records_to_table(
            "trades",
            records=[(backtest_id, seq, *trade) for seq, trade in enumerate(trades)],
            columns=list(TRADE_COLUMNS),
        )
        await conn.execute(
            "INSERT INTO equity (backtest_id, points, times, values) VALUES ($1, $2, $3, $4)",
            backtest_id,
            len(times),
            times.astype("<i8").tobytes(),
            equity.astype("<f8").tobytes(),
        )
        await conn.execute(
            """UPDATE backtests SET status = 'succeeded', metrics = $2, finished_at = now(),
                   error = NULL WHERE id = $1""",
            backtest_id,
            metrics,
        )
        await add_to_outbox(conn, BacktestCompleted(backtest_id=backtest_id))
    return True


async def fail_backtest(conn: DbConnection, backtest_id: UUID, error: str) -> None:
    event = BacktestFailed(backtest_id=backtest_id, error=error)
    await fail_job(conn, "backtests", backtest_id, error, event)
