"""Consuming RunOptimizationChunk: take the chunk, evaluate it in the process pool, record it.

A chunk of an optimization no longer running (cancelled, failed) or already done is dropped
without work; a chunk whose optimization is cancelled while it runs is not recorded. The
candles of the optimization a worker last served stay in memory for its next chunk.
"""

import asyncio
import logging
from concurrent.futures import Executor
from dataclasses import dataclass, field
from uuid import UUID

import asyncpg
from pydantic import ValidationError

from services.engine.optimization import store
from services.engine.optimization.in_pool import (
    bars_between,
    best_of_sets,
    evaluate_sets,
    run_test_window,
)
from services.engine.optimization.outcomes import record_grid, record_test, record_train
from services.engine.optimization.plan import walk_forward_windows
from services.engine.optimization.store import ChunkWork
from shared import market_data
from shared.candles import Candles
from shared.jobs import JobRejected
from shared.messages import RunOptimizationChunk
from shared.optimization_spec import OptimizationSpec
from shared.repos import optimizations as optimizations_repo
from shared.timestamps import iso_utc

log = logging.getLogger(__name__)


@dataclass
class ChunkWorker:
    pool: asyncpg.Pool
    executor: Executor
    _candles: tuple[UUID, Candles] | None = field(default=None, repr=False)

    async def handle(self, command: RunOptimizationChunk) -> None:
        work = await store.chunk_work(self.pool, command.optimization_id, command.chunk)
        context = {"optimization_id": str(command.optimization_id), "chunk": command.chunk}
        if work is None:
            log.info("chunk dropped: done already or optimization not running", extra=context)
            return
        try:
            recorded = await self._run(work)
        except JobRejected as exc:
            async with self.pool.acquire() as conn:
                await optimizations_repo.fail_optimization(conn, work.optimization_id, str(exc))
            return
        if not recorded:
            log.info("chunk not recorded: cancelled or done meanwhile", extra=context)

    async def _run(self, work: ChunkWork) -> bool:
        try:
            spec = OptimizationSpec.model_validate(work.request)
        except ValidationError as exc:
            raise JobRejected(f"invalid request: {exc}") from None
        candles = await self._load(work, spec)
        loop = asyncio.get_running_loop()
        if work.stage == "grid":
            sets = spec.combinations()[0][work.set_from : work.set_to]
            results = await loop.run_in_executor(
                self.executor, evaluate_sets, candles, work.request, sets, work.set_from
            )
            async with self.pool.acquire() as conn:
                return await record_grid(conn, work, results)
        assert spec.walk_forward is not None and work.window is not None
        window = walk_forward_windows(work.bars, spec.walk_forward)[work.window]
        if work.stage == "train":
            sets = spec.combinations()[0][work.set_from : work.set_to]
            best = await loop.run_in_executor(
                self.executor,
                best_of_sets,
                bars_between(candles, window.train_from, window.train_to),
                work.request,
                sets,
                work.set_from,
                spec.objective,
            )
            async with self.pool.acquire() as conn:
                return await record_train(conn, work, best)
        assert work.chosen is not None
        metrics, run = await loop.run_in_executor(
            self.executor,
            run_test_window,
            bars_between(candles, 0, window.test_to),
            work.request,
            work.chosen["params"],
            window.test_from,
        )
        times = candles.open_time
        row = {
            "window": window.index,
            "train_start": iso_utc(int(times[window.train_from])),
            "train_end": iso_utc(int(times[window.train_to - 1])),
            "test_start": iso_utc(int(times[window.test_from])),
            "test_end": iso_utc(int(times[window.test_to - 1])),
            "params": work.chosen["params"],
            "train_metrics": work.chosen["metrics"],
            "test_metrics": metrics,
        }
        async with self.pool.acquire() as conn:
            return await record_test(conn, work, row, metrics, run)

    async def _load(self, work: ChunkWork, spec: OptimizationSpec) -> Candles:
        """The bars the optimization was planned on."""
        if self._candles is not None and self._candles[0] == work.optimization_id:
            return self._candles[1]
        b = spec.backtest
        async with self.pool.acquire() as conn:
            candles = await market_data.load_candles(
                conn, b.category, b.symbol, b.interval, b.start, work.data_end
            )
        if len(candles) != work.bars:
            raise JobRejected(
                f"the range held {work.bars} candles when planned and {len(candles)} now"
            )
        self._candles = (work.optimization_id, candles)
        return candles

    async def give_up(self, command: RunOptimizationChunk, error: str) -> None:
        async with self.pool.acquire() as conn:
            await optimizations_repo.fail_optimization(conn, command.optimization_id, error)
