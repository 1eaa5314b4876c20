"""Consuming StartOptimization: cut the optimization into chunks and queue them.

The chunks, the optimization's move to `running` and a RunOptimizationChunk per chunk (in
the outbox) commit together, and only while the optimization is still `queued`: a
redelivered StartOptimization finds it running and does nothing.
"""

import logging
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg
from pydantic import ValidationError

from domain.optimization.plan import ChunkPlan, grid_chunks, walk_forward_chunks
from domain.optimization.walk_forward import (
    WalkForwardRejected,
    checked_window_count,
    progress_total,
    walk_forward_windows,
)
from domain.strategies.warmup import MAX_AUTO_WARMUP_BARS, warmup_bars
from services.engine.optimization import bayes_search
from shared import market_data
from shared.db import DbConnection
from shared.jobs import JobRejected
from shared.messages import StartOptimization
from shared.optimization_spec import OptimizationSpec
from shared.repos import optimization_chunks as optimization_store
from shared.repos import optimizations as optimizations_repo

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoredRange:
    bars: int
    data_end: datetime | None
    warmup: int  # stored bars before the start, as many as the sets' warm-up takes at most


async def _stored_range(conn: DbConnection, spec: OptimizationSpec) -> StoredRange:
    b = spec.backtest
    if b.symbols is not None:
        return await _portfolio_range(conn, spec)
    bars, data_end = await market_data.candle_span(
        conn, b.category, b.symbol, b.interval, b.start, b.end
    )
    asked = _warmup_asked(spec)
    warmup = await market_data.bars_before(conn, b.category, b.symbol, b.interval, b.start, asked)
    return StoredRange(bars, data_end, warmup)


def _warmup_asked(spec: OptimizationSpec) -> int:
    """Bars before the start that warm up the sets that take the most."""
    b = spec.backtest
    if spec.kind == "bayes":
        # Any point of the space may be sampled: as many as any set may take (each set
        # then warms up on as many as its own warm-up takes, as in a grid).
        return MAX_AUTO_WARMUP_BARS if b.warmup_bars == "auto" else int(b.warmup_bars)
    sets, _ = spec.combinations()
    entry = b.strategy.entry()
    return max(
        (warmup_bars(b.warmup_bars, entry, params, b.interval) for params in sets), default=0
    )


def _bayes_plan(spec: OptimizationSpec, bars: int) -> tuple[list[ChunkPlan], int]:
    """A search's chunks are asked batch by batch (bayes_search.py); a walk-forward's test
    chunks wait from the start, numbered first."""
    assert spec.search is not None
    if spec.walk_forward is None:
        return [], progress_total(spec.search.trials, None)
    try:
        windows = checked_window_count(bars, spec.walk_forward, spec.search.trials)
    except WalkForwardRejected as exc:
        raise JobRejected(f"{exc.field}: {exc.message}") from None
    tests = [ChunkPlan(w, "test", w, 0, 1) for w in range(windows)]
    return tests, progress_total(spec.search.trials, windows)


async def _portfolio_range(conn: DbConnection, spec: OptimizationSpec) -> StoredRange:
    """A portfolio's bars: its union timeline's; its warm-up: the most any set asks (each
    chunk loads every symbol and warms each set as far as it asks; a search's, as much as
    any point of its space may ask)."""
    b = spec.backtest
    row = await conn.fetchrow(
        """SELECT count(DISTINCT open_time) AS bars, max(open_time) AS data_end FROM klines
           WHERE category = $1 AND symbol = ANY($2::text[]) AND interval = $3
             AND open_time BETWEEN $4 AND $5""",
        b.category,
        b.symbols,
        b.interval,
        b.start,
        b.end,
    )
    assert row is not None
    return StoredRange(int(row["bars"]), row["data_end"], _warmup_asked(spec))


def plan(spec: OptimizationSpec, bars: int) -> tuple[list[ChunkPlan], int]:
    """The chunks and the progress total."""
    if spec.kind == "bayes":
        return _bayes_plan(spec, bars)
    sets, _ = spec.combinations()
    if not sets:
        raise JobRejected("every combination of the grid breaks the strategy's own rule")
    if spec.kind == "grid" or spec.walk_forward is None:
        return grid_chunks(len(sets), bars), progress_total(len(sets), None)
    try:
        windows = checked_window_count(bars, spec.walk_forward, len(sets))
    except WalkForwardRejected as exc:
        raise JobRejected(f"{exc.field}: {exc.message}") from None
    chunks = walk_forward_chunks(len(sets), walk_forward_windows(bars, spec.walk_forward))
    return chunks, progress_total(len(sets), windows)


@dataclass
class OptimizationPlanner:
    pool: asyncpg.Pool

    async def handle(self, command: StartOptimization) -> None:
        async with self.pool.acquire() as conn:
            try:
                await self._plan(conn, command.optimization_id)
            except JobRejected as exc:
                await optimizations_repo.fail_optimization(conn, command.optimization_id, str(exc))

    async def _plan(self, conn: DbConnection, optimization_id: UUID) -> None:
        async with conn.transaction():
            row = await optimizations_repo.lock_for_planning(conn, optimization_id)
            if row is None or row["status"] != "queued":
                log.info(
                    "optimization already planned or settled", extra={"id": str(optimization_id)}
                )
                return
            try:
                spec = OptimizationSpec.model_validate(row["request"])
            except ValidationError as exc:
                raise JobRejected(f"invalid request: {exc}") from None
            stored = await _stored_range(conn, spec)
            if stored.data_end is None:
                raise JobRejected("no stored candles in the range")
            chunks, total = plan(spec, stored.bars)
            await optimization_store.plant_chunks(
                conn,
                optimization_id,
                chunks,
                bars=stored.bars,
                data_end=stored.data_end,
                warmup=stored.warmup,
                total=total,
            )
            if spec.kind == "bayes":
                await bayes_search.open_searches(conn, optimization_id, spec, stored.bars)
        log.info("optimization planned", extra={"id": str(optimization_id), "chunks": len(chunks)})

    async def give_up(self, command: StartOptimization, error: str) -> None:
        async with self.pool.acquire() as conn:
            await optimizations_repo.fail_optimization(conn, command.optimization_id, error)
