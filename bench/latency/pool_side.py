"""A backtest's pool-side work against its core (issue 27: at most 1.5x), in a process of
its own started as the engine starts its pool processes (spawned, keeping freed arrays'
pages: `shared.freed_memory`).

The worker loads the inputs as it does for a job (`pool_work`: the candles, the perpetual's
market, the candles' digest), ships them as it does (`pool_transfer`), and then, timed as CPU
best of a few: the core (`run_backtest` alone), and what a pool process does for the job:
unpickling the shipped arguments, the backtest with its trades, metrics and digests
(`simulate`), handing its output back (the equity into the call's room, the rest pickled to
go through the pipe; the room and the arguments' segment are the same call after call, as a
worker's `Segments` give them back after each backtest, so the pool process has them
mapped). Timed in that process with `time.process_time` rather than read from /proc, which
counts only in 10 ms ticks.
"""

import asyncio
import multiprocessing
import pickle
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from bench.support.timing import best_cpu_seconds
from domain.backtest import run_backtest
from services.engine.backtests.consumer import pool_work
from services.engine.backtests.parsed_request import parse_backtest
from services.engine.pool_transfer import Segments, shipped
from services.engine.provenance import CandlesDigests
from shared.backtest_spec import BacktestSpec
from shared.db import create_pool
from shared.freed_memory import keep_freed_pages

REPEATS = 11


@dataclass(frozen=True)
class PoolSide:
    core: float  # CPU seconds of run_backtest alone
    simulate: float  # CPU seconds of `simulate`: the backtest with its trades and digests
    pool_side: float  # CPU seconds of the pool's part of a job: `simulate` and the hand-over

    @property
    def ratio(self) -> float:
        return self.pool_side / self.core


async def measure_pool_side(database_url: str, body: dict[str, Any]) -> PoolSide:
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as process:
        measured = process.submit(_measured_here, database_url, body)
        return await asyncio.wrap_future(measured)


def _measured_here(database_url: str, body: dict[str, Any]) -> PoolSide:
    keep_freed_pages()
    return asyncio.run(_measured(database_url, body))


async def _measured(database_url: str, body: dict[str, Any]) -> PoolSide:
    spec, run = parse_backtest(BacktestSpec.model_validate(body).model_dump(mode="json"))
    pool = await create_pool(database_url, max_size=1)
    try:
        function, inputs, equity_bytes = await pool_work(pool, spec, run, CandlesDigests())
    finally:
        await pool.close()
    candles, _, warmup, market, detail, _ = inputs

    def core() -> None:
        run_backtest(candles, run.config, trade_from=warmup, market=market, detail=detail)

    arguments = Segments(kept=1)
    try:
        return _timed(core, function, inputs, equity_bytes, arguments)
    finally:
        arguments.close()


def _timed(
    core: Callable[[], None],
    function: Callable[..., Any],
    inputs: tuple[Any, ...],
    equity_bytes: int,
    arguments: Segments,
) -> PoolSide:
    with shipped(function, inputs, equity_bytes, arguments=arguments) as shipment:
        call = shipment.call

        def pool_side() -> None:
            pickle.dumps(call[0](*call[1:]), pickle.HIGHEST_PROTOCOL)

        pool_side()
        # Taken in turns, so that the machine's load weighs on each alike.
        parts = (core, lambda: function(*inputs), pool_side)
        best = [float("inf")] * len(parts)
        for _ in range(REPEATS):
            best = [min(b, best_cpu_seconds(part, 1)) for b, part in zip(best, parts, strict=True)]
        return PoolSide(*best)
