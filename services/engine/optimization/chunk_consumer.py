"""Consuming RunOptimizationChunk: take the chunk, evaluate it in the process pool, record it.

A chunk of an optimization no longer running (cancelled, failed) or already done is dropped
without work; a chunk whose optimization is cancelled while it runs is not recorded. The
candles of the range a worker last served stay in memory for its next chunk, here and in each
pool process (so a chunk sends the pool only its parameter sets).
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from uuid import UUID

import asyncpg

from domain.execution.fill_detail import FillDetail
from domain.market.candles import Candles
from domain.market.intervals import iso_utc
from domain.market.perp_market import PerpMarket
from domain.optimization.walk_forward import walk_forward_windows
from domain.portfolio_backtest import SymbolSeries, traded_times
from domain.research.robustness import SetStatistics
from domain.strategies import ParamValue
from services.engine.fill_detail_loading import load_fill_detail
from services.engine.optimization import bayes_search
from services.engine.optimization.in_pool import (
    CandlesKey,
    CandlesMissing,
    HeldCandles,
    SetResult,
    run_grid_chunk,
    run_test_chunk,
    run_train_chunk,
    run_window_sets,
)
from services.engine.optimization.outcomes import record_grid, record_test, record_train
from services.engine.optimization.parsed_request import ParsedOptimization, parse_optimization
from services.engine.optimization.portfolio_sets import (
    run_portfolio_grid_chunk,
    run_portfolio_test_chunk,
    run_portfolio_train_chunk,
    run_portfolio_window_sets,
)
from services.engine.perp_market_loading import load_perp_market
from services.engine.portfolio_loading import load_portfolio_series
from services.engine.provenance import (
    candles_provenance,
    portfolio_provenance,
    provenance,
    strategy_sha256,
)
from services.engine.simulation_pool import SimulationPool
from shared import market_data
from shared.jobs import JobRejected
from shared.messages import RunOptimizationChunk
from shared.optimization_spec import OptimizationSpec
from shared.repos import bayes_trials as bayes_store
from shared.repos import optimization_chunks as store
from shared.repos import optimizations as optimizations_repo
from shared.repos.optimization_chunks import ChunkWork
from shared.timestamps import to_epoch_ms

log = logging.getLogger(__name__)
R = TypeVar("R")


@dataclass
class ChunkWorker:
    pool: asyncpg.Pool
    simulations: SimulationPool
    _candles: tuple[CandlesKey, Candles, PerpMarket | None, FillDetail | None] | None = field(
        default=None, repr=False
    )
    # The candles' digest, and the optimization whose provenance this worker last recorded.
    _candles_digest: dict[str, Any] | None = field(default=None, repr=False)
    _recorded: UUID | None = field(default=None, repr=False)
    # The parameter sets of the optimization last served: up to 100,000 to build.
    _sets: tuple[UUID, list[dict[str, ParamValue]]] | None = field(default=None, repr=False)
    # The request of the optimization last served, parsed (once per optimization and worker).
    _spec: tuple[UUID, OptimizationSpec, ParsedOptimization] | None = field(
        default=None, repr=False
    )
    # The Bayesian searches' studies this worker asked the latest batch of.
    _studies: bayes_search.HeldStudies = field(default_factory=bayes_search.HeldStudies, repr=False)
    # Chunks in hand at once (the next waits for the pool while one runs) load one at a time:
    # the second finds the candles, their digest and the provenance the first left.
    _loading: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    async def handle(self, command: RunOptimizationChunk) -> None:
        context = {"optimization_id": str(command.optimization_id), "chunk": command.chunk}
        log.debug("chunk taken", extra=context)
        work = await store.chunk_work(self.pool, command.optimization_id, command.chunk)
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
        else:
            log.debug("chunk recorded", extra=context)

    async def _run(self, work: ChunkWork) -> bool:
        spec, parsed = self._parsed(work)
        if spec.backtest.symbols is not None:
            return await self._run_portfolio(work, spec, parsed)
        key, candles, _, _ = await self._load(work, spec)
        if spec.kind == "bayes" and work.stage != "test":
            return await self._run_trials(
                work, spec, self._trial_sets(work, spec, parsed, key, candles)
            )
        if work.stage == "grid":
            sets = self._param_sets(work, spec)
            results, statistics = await self._in_pool(
                key, candles, run_grid_chunk, work.warmup, parsed, sets, work.set_from
            )
            async with self.pool.acquire() as conn:
                return await record_grid(conn, work, results, statistics)
        assert spec.walk_forward is not None and work.window is not None
        window = walk_forward_windows(work.bars, spec.walk_forward)[work.window]
        at = work.warmup  # the window's bar numbers count from the range's first bar
        if work.stage == "train":
            sets = self._param_sets(work, spec)
            best, statistics = await self._in_pool(
                key,
                candles,
                run_train_chunk,
                (at + window.train_from, at + window.train_to),
                parsed,
                sets,
                work.set_from,
            )
            async with self.pool.acquire() as conn:
                return await record_train(conn, work, best, statistics)
        assert work.chosen is not None
        metrics, run = await self._in_pool(
            key,
            candles,
            run_test_chunk,
            (at + window.test_from, at + window.test_to),
            parsed,
            work.chosen["params"],
        )
        times = candles.open_time
        row = {
            "window": window.index,
            "train_start": iso_utc(int(times[at + window.train_from])),
            "train_end": iso_utc(int(times[at + window.train_to - 1])),
            "test_start": iso_utc(int(times[at + window.test_from])),
            "test_end": iso_utc(int(times[at + window.test_to - 1])),
            "params": work.chosen["params"],
            "train_metrics": work.chosen["metrics"],
            "test_metrics": metrics,
            "robustness": work.chosen.get("robustness"),
        }
        async with self.pool.acquire() as conn:
            return await record_test(conn, work, row, metrics, run)

    def _parsed(self, work: ChunkWork) -> tuple[OptimizationSpec, ParsedOptimization]:
        if self._spec is None or self._spec[0] != work.optimization_id:
            self._spec = (work.optimization_id, *parse_optimization(work.request))
        return self._spec[1], self._spec[2]

    async def _run_trials(
        self,
        work: ChunkWork,
        spec: OptimizationSpec,
        evaluate: Callable[
            [list[dict[str, Any]]], Awaitable[tuple[list[SetResult], SetStatistics]]
        ],
    ) -> bool:
        """A Bayesian search's chunk: its trials' sets evaluated by `evaluate` (over the range,
        or the window's train bars), then recorded and told."""
        trials = await bayes_store.chunk_trials(self.pool, work.optimization_id, work.chunk)
        assert [t.position for t in trials] == list(range(work.set_from, work.set_to))
        results, statistics = await evaluate(bayes_search.evaluation_sets(spec, trials))
        async with self.pool.acquire() as conn:
            return await bayes_search.record_trials(
                conn, work, spec, trials, results, statistics, self._studies
            )

    def _trial_sets(
        self,
        work: ChunkWork,
        spec: OptimizationSpec,
        parsed: ParsedOptimization,
        key: CandlesKey,
        candles: Candles,
    ) -> Callable[[list[dict[str, Any]]], Awaitable[tuple[list[SetResult], SetStatistics]]]:
        """How a one-symbol search's chunk evaluates its sets in the pool."""

        async def evaluate(sets: list[dict[str, Any]]) -> tuple[list[SetResult], SetStatistics]:
            if work.window is None:
                return await self._in_pool(
                    key, candles, run_grid_chunk, work.warmup, parsed, sets, work.set_from
                )
            assert spec.walk_forward is not None
            window = walk_forward_windows(work.bars, spec.walk_forward)[work.window]
            at = work.warmup
            return await self._in_pool(
                key,
                candles,
                run_window_sets,
                (at + window.train_from, at + window.train_to),
                parsed,
                sets,
                work.set_from,
            )

        return evaluate

    async def _run_portfolio(
        self, work: ChunkWork, spec: OptimizationSpec, parsed: ParsedOptimization
    ) -> bool:
        """A chunk of an optimization of a portfolio: every symbol's candles, warmed as far
        as the sets ask, go to the pool with the chunk's work; walk-forward windows count the
        bars of the union timeline."""
        async with self.pool.acquire() as conn:
            series = await load_portfolio_series(conn, spec.backtest, work.warmup)
            if self._recorded != work.optimization_id:
                ran_on = portfolio_provenance(series, strategy_sha256(spec.backtest.strategy))
                await store.record_provenance(self.pool, work.optimization_id, ran_on)
                self._recorded = work.optimization_id
        run = self.simulations.run
        if spec.kind == "bayes" and work.stage != "test":

            async def evaluate(sets: list[dict[str, Any]]) -> tuple[list[SetResult], SetStatistics]:
                if work.window is None:
                    return await run(run_portfolio_grid_chunk, series, parsed, sets, work.set_from)
                train, _ = _portfolio_window(work, spec, series)
                return await run(
                    run_portfolio_window_sets, series, train, parsed, sets, work.set_from
                )

            return await self._run_trials(work, spec, evaluate)
        if work.stage == "grid":
            sets = self._param_sets(work, spec)
            results, statistics = await run(
                run_portfolio_grid_chunk, series, parsed, sets, work.set_from
            )
            async with self.pool.acquire() as conn:
                return await record_grid(conn, work, results, statistics)
        assert work.window is not None
        train, test = _portfolio_window(work, spec, series)
        if work.stage == "train":
            sets = self._param_sets(work, spec)
            best, statistics = await run(
                run_portfolio_train_chunk,
                series,
                train,
                parsed,
                sets,
                work.set_from,
            )
            async with self.pool.acquire() as conn:
                return await record_train(conn, work, best, statistics)
        assert work.chosen is not None
        metrics, test_run = await run(
            run_portfolio_test_chunk, series, test, parsed, work.chosen["params"]
        )
        row = {
            "window": work.window,
            "train_start": iso_utc(train[0]),
            "train_end": iso_utc(train[1]),
            "test_start": iso_utc(test[0]),
            "test_end": iso_utc(test[1]),
            "params": work.chosen["params"],
            "train_metrics": work.chosen["metrics"],
            "test_metrics": metrics,
            "robustness": work.chosen.get("robustness"),
        }
        async with self.pool.acquire() as conn:
            return await record_test(conn, work, row, metrics, test_run)

    def _param_sets(self, work: ChunkWork, spec: OptimizationSpec) -> list[dict[str, ParamValue]]:
        if self._sets is None or self._sets[0] != work.optimization_id:
            self._sets = (work.optimization_id, spec.combinations()[0])
        return self._sets[1][work.set_from : work.set_to]

    async def _in_pool(
        self,
        key: CandlesKey,
        candles: Candles,
        function: Callable[..., R],
        *args: Any,
    ) -> R:
        """`function(HeldCandles, *args)` in a pool process; the candles go along only to a
        process that does not hold them yet."""
        try:
            return await self.simulations.run(function, HeldCandles(key), *args)
        except CandlesMissing:
            assert self._candles is not None and self._candles[0] == key
            held = HeldCandles(key, candles, self._candles[2], self._candles[3])
            return await self.simulations.run(function, held, *args)

    async def _load(
        self, work: ChunkWork, spec: OptimizationSpec
    ) -> tuple[CandlesKey, Candles, PerpMarket | None, FillDetail | None]:
        """The bars the optimization was planned on, after their warm-up."""
        async with self._loading:
            return await self._load_once(work, spec)

    async def _load_once(
        self, work: ChunkWork, spec: OptimizationSpec
    ) -> tuple[CandlesKey, Candles, PerpMarket | None, FillDetail | None]:
        b = spec.backtest
        end_ms = to_epoch_ms(work.data_end)
        interval = b.interval if b.fill_detail is None else f"{b.interval}:{b.fill_detail}"
        key = (b.category, b.symbol, interval, b.start_ms, end_ms, work.bars, work.warmup)
        if self._candles is None or self._candles[0] != key:
            started = time.perf_counter()
            self._candles = (key, *await self._load_candles(work, spec))
            self._candles_digest = await asyncio.to_thread(candles_provenance, self._candles[1])
            log.debug(
                "candles loaded",
                extra={
                    "optimization_id": str(work.optimization_id),
                    "chunk": work.chunk,
                    "seconds": round(time.perf_counter() - started, 3),
                },
            )
        if self._recorded != work.optimization_id:
            # What it ran on, once per optimization and worker (the first record stands).
            assert self._candles_digest is not None
            ran_on = provenance(self._candles_digest, strategy_sha256(b.strategy))
            await store.record_provenance(self.pool, work.optimization_id, ran_on)
            self._recorded = work.optimization_id
        return self._candles

    async def _load_candles(
        self, work: ChunkWork, spec: OptimizationSpec
    ) -> tuple[Candles, PerpMarket | None, FillDetail | None]:
        b = spec.backtest
        async with self.pool.acquire() as conn:
            candles = await market_data.load_candles_warmed(
                conn, b.category, b.symbol, b.interval, b.start, work.data_end, work.warmup
            )
            market = await load_perp_market(conn, b, candles)
            detail = await load_fill_detail(conn, b, candles)
        planned = work.warmup + work.bars
        if len(candles) != planned:
            raise JobRejected(
                f"the range and its warm-up held {planned} candles when planned and"
                f" {len(candles)} now"
            )
        return candles, market, detail

    async def give_up(self, command: RunOptimizationChunk, error: str) -> None:
        async with self.pool.acquire() as conn:
            await optimizations_repo.fail_optimization(conn, command.optimization_id, error)


def _portfolio_window(
    work: ChunkWork, spec: OptimizationSpec, series: list[SymbolSeries]
) -> tuple[tuple[int, int], tuple[int, int]]:
    """A walk-forward window of a portfolio: the open times of its first and last train bars,
    and of its test bars, on the union timeline the optimization was planned on."""
    assert spec.walk_forward is not None and work.window is not None
    times = traded_times(series)
    if times.size != work.bars:
        raise JobRejected(f"the range held {work.bars} bars when planned and {times.size} now")
    window = walk_forward_windows(work.bars, spec.walk_forward)[work.window]
    train = (int(times[window.train_from]), int(times[window.train_to - 1]))
    test = (int(times[window.test_from]), int(times[window.test_to - 1]))
    return train, test
