"""Optimization benchmark: a 20x20 sma_cross grid on a year of 1-minute bars (525,600).

Bar-evaluations per second (parameter sets x bars / seconds) of our grid evaluation on one
core, against vectorbt's own grid (MA.run over the windows, crossover signals, then
Portfolio.from_signals on the column grid) in the same run, both after their JIT warm-up.
vectorbt holds every column of every array in memory, so it runs the grid in column batches
(each batch is still one vectorized call). Then the whole path through the queue: the same
grid as an optimization job, planned and run by 1 and then 2 engine worker processes
(`python -m services.engine`, one pool process each), timed from the job's creation to its
success.
"""

import asyncio
import contextlib
import gc
import tempfile
import time
import timeit
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
import pandas as pd  # type: ignore[import-untyped]

from bench.child_processes import child_process, settings_env, tail
from bench.scratch import scratch_database, scratch_prefix
from bench.synthetic import random_walk
from services.engine.optimization_eval import evaluate_sets
from services.ingest.kline_store import Series, store
from shared import optimizations_repo
from shared.candles import Candles
from shared.db import create_pool
from shared.optimization_spec import OptimizationSpec
from shared.settings import Settings

BARS = 525_600
FAST = list(range(2, 42, 2))  # 20 values, all below every slow one: 400 parameter sets
SLOW = list(range(50, 250, 10))
FEE_RATE = 0.00055
CASH = 10_000.0
VECTORBT_COLUMNS_PER_BATCH = 50
BENCH_DATABASE = "backtester_bench_optimization"


def _request(bars: int) -> dict[str, Any]:
    start = 1_704_067_200_000
    return {
        "kind": "grid",
        "backtest": {
            "category": "linear",
            "symbol": "BTCUSDT",
            "interval": "1",
            "start": start,
            "end": start + bars * 60_000,
            "strategy": {"name": "sma_cross"},
            "fee_rate": FEE_RATE,
        },
        "param_grid": {"fast": FAST, "slow": SLOW},
        "objective": "sharpe",
    }


def _sets() -> list[dict[str, int]]:
    return [{"fast": f, "slow": s} for f in FAST for s in SLOW]


def _ours(candles: Candles) -> Callable[[], None]:
    request = _request(len(candles))

    def run() -> None:
        evaluate_sets(candles, request, _sets(), 0)

    return run


def _vectorbt(candles: Candles) -> Callable[[], None]:
    import vectorbt as vbt

    index = pd.DatetimeIndex(candles.open_time.astype("datetime64[ms]"))
    close = pd.Series(candles.close, index)
    open_ = pd.Series(candles.open, index)
    sets = _sets()

    def run() -> None:
        for first in range(0, len(sets), VECTORBT_COLUMNS_PER_BATCH):
            batch = sets[first : first + VECTORBT_COLUMNS_PER_BATCH]
            fast = vbt.MA.run(close, [p["fast"] for p in batch], short_name="fast")
            slow = vbt.MA.run(close, [p["slow"] for p in batch], short_name="slow")
            # Signals at a bar's close fill at the next open, as ours do.
            above = fast.ma_crossed_above(slow).shift(1, fill_value=False)
            below = fast.ma_crossed_below(slow).shift(1, fill_value=False)
            portfolio = vbt.Portfolio.from_signals(
                close,
                above,
                below,
                price=open_.vbt.tile(len(batch), keys=above.columns),
                size=np.inf,
                fees=FEE_RATE,
                init_cash=CASH,
                freq="1min",
            )
            portfolio.sharpe_ratio()
            portfolio.max_drawdown()
            del fast, slow, above, below, portfolio
            gc.collect()

    return run


def _row(name: str, evaluations: int, seconds: float, note: str) -> dict[str, Any]:
    return {
        "engine": name,
        "parameter_sets": len(_sets()),
        "bar_evaluations": evaluations,
        "seconds": round(seconds, 3),
        "bar_evaluations_per_second": round(evaluations / seconds),
        "note": note,
    }


def _compute_rows(candles: Candles, repeats: int) -> list[dict[str, Any]]:
    evaluations = len(_sets()) * len(candles)
    small = Candles(*(np.asarray(getattr(candles, f))[:2000] for f in Candles.__dataclass_fields__))
    rows = []
    for name, make, note in (
        ("ours", _ours, "evaluate_sets on one core, after JIT; all 13 metrics per set"),
        (
            "vectorbt",
            _vectorbt,
            f"MA.run + from_signals in batches of {VECTORBT_COLUMNS_PER_BATCH} columns, "
            "after JIT; sharpe and drawdown per column",
        ),
    ):
        make(small)()  # compile (or load) the kernels
        rows.append(
            _row(
                name, evaluations, min(timeit.repeat(make(candles), number=1, repeat=repeats)), note
            )
        )
    rows[1]["times_slower_than_ours"] = round(rows[1]["seconds"] / rows[0]["seconds"], 1)
    return rows


async def _through_the_queue(settings: Settings, candles: Candles, workers: int) -> float:
    """Seconds from creating the optimization to its success with `workers` engines."""
    spec = OptimizationSpec.model_validate(_request(len(candles)))
    sets, skipped = spec.combinations()
    env = settings_env(settings.model_copy(update={"engine_processes": 1}))
    logs = Path(tempfile.mkdtemp(prefix="bench-optimization-"))
    pool = await create_pool(settings.database_url)
    try:
        async with _engines(env, logs, workers):
            async with pool.acquire() as conn:
                started = time.perf_counter()
                optimization_id = await optimizations_repo.create_optimization(
                    conn, "grid", spec.model_dump(mode="json"), len(sets), skipped
                )
            status = "queued"
            while status not in ("succeeded", "failed"):  # settled by the engines: poll
                await asyncio.sleep(0.02)
                status = await _status(pool, optimization_id)
            seconds = time.perf_counter() - started
        if status != "succeeded":
            raise RuntimeError(f"the optimization failed; engine log:\n{tail(logs / 'e0.log')}")
        return seconds
    finally:
        await pool.close()


async def _status(pool: asyncpg.Pool, optimization_id: Any) -> str:
    return str(
        await pool.fetchval("SELECT status FROM optimizations WHERE id = $1", optimization_id)
    )


@contextlib.asynccontextmanager
async def _engines(env: dict[str, str], logs: Path, workers: int) -> AsyncIterator[None]:
    """`workers` engine processes, each serving (its pool started) when the block runs."""
    paths = [logs / f"e{i}.log" for i in range(workers)]
    async with contextlib.AsyncExitStack() as stack:
        for path in paths:
            await stack.enter_async_context(child_process("services.engine", env, path))
        deadline = time.monotonic() + 120
        while not all("engine started" in p.read_text(errors="replace") for p in paths):
            if time.monotonic() > deadline:
                raise RuntimeError(f"engines not started:\n{tail(paths[0])}")
            await asyncio.sleep(0.1)
        yield


async def _queue_rows(candles: Candles) -> list[dict[str, Any]]:
    base = Settings()
    rows = []
    for workers in (1, 2):
        async with (
            scratch_database(base.database_url, BENCH_DATABASE) as dsn,
            scratch_prefix(base.amqp_url) as prefix,
        ):
            pool = await create_pool(dsn)
            try:
                async with pool.acquire() as conn:
                    await store(conn, Series("linear", "BTCUSDT", "1"), candles, [], [])
            finally:
                await pool.close()
            settings = base.model_copy(update={"database_url": dsn, "amqp_prefix": prefix})
            seconds = await _through_the_queue(settings, candles, workers)
        evaluations = len(_sets()) * len(candles)
        rows.append(
            _row(
                f"ours through the queue, {workers} engine worker{'s' if workers > 1 else ''}",
                evaluations,
                seconds,
                "POST-equivalent job to succeeded: planning, chunks over RabbitMQ, "
                "candle loads, results in PostgreSQL",
            )
        )
    rows[1]["speed_up_over_1_worker"] = round(rows[0]["seconds"] / rows[1]["seconds"], 2)
    return rows


def run_optimization_bench(bars: int = BARS, repeats: int = 2) -> list[dict[str, Any]]:
    """Rows: ours and vectorbt on one core, then through the queue with 1 and 2 workers."""
    candles = random_walk(bars)
    rows = _compute_rows(candles, repeats)
    rows.extend(asyncio.run(_queue_rows(candles)))
    return rows


if __name__ == "__main__":
    import json

    print(json.dumps(run_optimization_bench(), indent=2))
