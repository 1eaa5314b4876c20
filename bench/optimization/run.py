"""Optimization benchmark: a 20x20 sma_cross grid on a year of 1-minute bars (525,600).

Bar-evaluations per second (parameter sets x bars / seconds) of our grid evaluation on one
core (the built-in `sma_cross`, then the same strategy as an expression definition), against
vectorbt's own grid (MA.run over the windows, crossover signals, then Portfolio.from_signals
on the column grid) in the same run, each after its JIT warm-up.
vectorbt holds every column of every array in memory, so it runs the grid in column batches
(each batch is still one vectorized call), over all 400 sets, once (it takes well over a
minute; `--vectorbt-sets` times fewer and scales, and its row then says so). raptorbt runs
the grid set after set (its own SMAs, their cross, `run_single_backtest`), once, after its
trades are checked against ours on three sets. A hand-written
numba loop over the same sets (bench/engine/peers.py) is the floor. Then the whole path
through the queue: the same grid as an optimization job, planned and run by 1 and then 2
engine workers (`python -m services.engine`, one pool process each), timed from the job's
`created_at` to its `finished_at` as the database recorded them, best of the same number of
jobs in a row. With the CPU time the engine workers (their pool processes included) spent on
that job, the report gives the per-chunk overhead: CPU outside the kernel (the in-process
run's time) per chunk.
"""

import argparse
import asyncio
import gc
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
import pandas as pd  # type: ignore[import-untyped]

from bench.engine import peers
from bench.engine.breakdown import Part, grid_set_parts
from bench.optimization import report as optimization_report
from bench.strategies.run import sma_cross_definition
from bench.support.optimization_queue import through_the_queue
from bench.support.report_files import report_path
from bench.support.seed import store_candles
from bench.support.service_stack import bench_settings
from bench.support.synthetic import START_MS, random_walk
from bench.support.timing import best_seconds
from bench.support.vectorbt_sma_cross import sma_cross_portfolio
from domain.backtest import run_backtest
from domain.execution.config import BacktestConfig
from domain.execution.settings import ExecutionSettings
from domain.market.candles import Candles
from domain.research.robustness import DEFAULT_BLOCKS
from domain.targets.indicator_cache import IndicatorCache
from services.engine.optimization.in_pool import evaluate_sets
from services.engine.optimization.parsed_request import parse_optimization
from services.engine.perp_market_loading import load_perp_market
from services.ingest.kline_store import Series
from shared.optimization_spec import OptimizationSpec
from shared.settings import Settings

BARS = 525_600
FAST = list(range(2, 42, 2))  # 20 values, all below every slow one: 400 parameter sets
SLOW = list(range(50, 250, 10))
SETS = [{"fast": f, "slow": s} for f in FAST for s in SLOW]
FEE_RATE = 0.00055
CASH = 10_000.0
VECTORBT_COLUMNS_PER_BATCH = 50
VECTORBT_SETS = len(SETS)  # fewer are spread over the grid and their time scaled
WARM_UP_BARS = 2_000
WORKERS = (1, 2)
HAND_LOOP = "hand-written numba loop"
EXPRESSION = "ours, sma_cross as an expression"
BUILTIN_STRATEGY: dict[str, Any] = {"name": "sma_cross"}
BENCH_DATABASE = "backtester_bench_optimization"
SERIES = Series("linear", "BTCUSDT", "1")


def _say(text: str) -> None:
    print(f"optimization benchmark: {text}", flush=True)


def _request(bars: int, strategy: dict[str, Any] = BUILTIN_STRATEGY) -> dict[str, Any]:
    return {
        "kind": "grid",
        "backtest": {
            "category": SERIES.category,
            "symbol": SERIES.symbol,
            "interval": SERIES.interval,
            "start": START_MS,
            "end": START_MS + bars * 60_000,
            "strategy": strategy,
            "fee_rate": FEE_RATE,
        },
        "param_grid": {"fast": FAST, "slow": SLOW},
        "objective": "sharpe",
    }


def _ours(candles: Candles, strategy: dict[str, Any] = BUILTIN_STRATEGY) -> Callable[[], None]:
    parsed = parse_optimization(_request(len(candles), strategy))[1]

    def run() -> None:
        evaluate_sets(candles, parsed, SETS, 0)

    return run


def _vectorbt(candles: Candles, sets: list[dict[str, int]]) -> Callable[[], None]:
    index = pd.DatetimeIndex(candles.open_time.astype("datetime64[ms]"))
    close = pd.Series(candles.close, index)
    open_ = pd.Series(candles.open, index)

    def run() -> None:
        for first in range(0, len(sets), VECTORBT_COLUMNS_PER_BATCH):
            batch = sets[first : first + VECTORBT_COLUMNS_PER_BATCH]
            portfolio = sma_cross_portfolio(
                close,
                open_,
                [p["fast"] for p in batch],
                [p["slow"] for p in batch],
                fee_rate=FEE_RATE,
                cash=CASH,
            )
            portfolio.sharpe_ratio()
            portfolio.max_drawdown()
            del portfolio
            gc.collect()

    return run


def _spread(count: int) -> list[dict[str, int]]:
    """`count` parameter sets evenly spread over the grid (all of them if count >= the grid)."""
    step = max(1, len(SETS) // max(count, 1))
    return SETS[::step][:count]


def _row(
    name: str, bars: int, seconds: float, cores: int, note: str, **extra: Any
) -> dict[str, Any]:
    rate = len(SETS) * bars / seconds
    return {
        "engine": name,
        "parameter_sets": len(SETS),
        "bars": bars,
        "bar_evaluations": len(SETS) * bars,
        "seconds": round(seconds, 3),
        "cores": cores,
        "bar_evaluations_per_second": round(rate),
        "bar_evaluations_per_second_per_core": round(rate / cores),
        "note": note,
        **extra,
    }


def _compute_rows(candles: Candles, repeats: int, vectorbt_sets: int) -> list[dict[str, Any]]:
    """Ours and vectorbt on one core, each after a warm-up on the first bars."""
    bars = len(candles)
    small = candles.select(np.arange(min(bars, WARM_UP_BARS)))
    _say(f"ours, {len(SETS)} sets x {bars:,} bars ...")
    ours = _ours_row("ours", candles, small, BUILTIN_STRATEGY, repeats, "all 13 metrics per set")
    _say(f"ours, sma_cross as an expression, {len(SETS)} sets x {bars:,} bars ...")
    expression = _ours_row(
        EXPRESSION,
        candles,
        small,
        {"definition": sma_cross_definition()},
        repeats,
        "the strategies benchmark's definition of sma_cross; all 13 metrics per set",
    )
    sets = _spread(vectorbt_sets)
    _say(f"vectorbt, {len(sets)} sets x {bars:,} bars ...")
    _vectorbt(small, sets[:VECTORBT_COLUMNS_PER_BATCH])()  # vectorbt's JIT warm-up
    timed = best_seconds(_vectorbt(candles, sets), 1)
    scaled = "" if len(sets) == len(SETS) else f", timed on {len(sets)} sets and scaled"
    vectorbt = _row(
        "vectorbt",
        bars,
        timed * len(SETS) / len(sets),
        1,
        f"MA.run + from_signals in batches of {VECTORBT_COLUMNS_PER_BATCH} columns, after JIT;"
        f" sharpe and drawdown per column{scaled}",
        timed_parameter_sets=len(sets),
    )
    raptor = _raptorbt_row(candles, small)
    _say(f"the hand-written loop, {len(SETS)} sets x {bars:,} bars ...")
    hand_all = _hand_loops(small)
    hand_all()
    floor = _row(
        HAND_LOOP,
        bars,
        best_seconds(_hand_loops(candles), repeats),
        1,
        "one numba pass per set: SMAs, fills, fees, equity, Sharpe (final equity and Sharpe only)",
    )
    return [ours, expression, vectorbt, raptor, floor]


def _ours_row(
    name: str,
    candles: Candles,
    small: Candles,
    strategy: dict[str, Any],
    repeats: int,
    what: str,
) -> dict[str, Any]:
    _ours(small, strategy)()  # load or compile the numba kernels
    evaluate_all = _ours(candles, strategy)
    cpu_seconds: list[float] = []

    def timed() -> None:
        cpu = time.process_time()
        evaluate_all()
        cpu_seconds.append(time.process_time() - cpu)

    return _row(
        name,
        len(candles),
        best_seconds(timed, repeats),
        1,
        f"evaluate_sets, after JIT; {what}",
        kernel_cpu_seconds=round(min(cpu_seconds), 3),
    )


BREAKDOWN_SET = {"fast": 10, "slow": 100}
# Sets whose trades raptorbt must match before its grid is timed: the grid's corners and one
# inside it.
AGREEMENT_SETS = (SETS[0], BREAKDOWN_SET, SETS[-1])


def _raptorbt_row(candles: Candles, small: Candles) -> dict[str, Any]:
    """raptorbt's grid: per set its own SMAs, their cross and `run_single_backtest`, after
    its trades are checked against ours on `AGREEMENT_SETS`; timed once (tens of seconds)."""
    bars = len(candles)
    _say(f"raptorbt, {len(SETS)} sets x {bars:,} bars ...")
    agreements = [
        peers.raptorbt_agreement(
            peers.raptorbt_sma_cross_run(candles, p["fast"], p["slow"], FEE_RATE, CASH)(),
            candles,
            run_backtest(candles, _backtest_config(p)),
        )
        for p in AGREEMENT_SETS
    ]
    disagreeing = [a for a in agreements if not a.agrees]
    checked = (
        f"DISAGREES on {len(disagreeing)} of {len(agreements)} sets checked"
        f" ({disagreeing[0].note()})"
        if disagreeing
        else f"trades agree with ours on {len(agreements)} sets"
        f" ({', '.join(f'{a.ours:,}' for a in agreements)} trades)"
    )
    _raptorbt_grid(small)()
    return _row(
        "raptorbt 0.13",
        bars,
        best_seconds(_raptorbt_grid(candles), 1),
        1,
        f"per set: raptorbt.sma twice, crosses, run_single_backtest; {checked}",
    )


def _raptorbt_grid(candles: Candles) -> Callable[[], None]:
    runs = [
        peers.raptorbt_sma_cross_run(candles, p["fast"], p["slow"], FEE_RATE, CASH) for p in SETS
    ]

    def run() -> None:
        for one_set in runs:
            one_set()

    return run


def _backtest_config(params: dict[str, int]) -> BacktestConfig:
    execution = ExecutionSettings(fee_rate=FEE_RATE, initial_capital=CASH)
    return BacktestConfig("sma_cross", params, SERIES.interval, execution)


def set_breakdown(bars: int = BARS, repeats: int = 2) -> list[Part]:
    """One set of the grid (`BREAKDOWN_SET`), its CPU time whole and by part, its SMAs already
    in the chunk's shared indicator cache."""
    candles = random_walk(bars)
    cache = IndicatorCache(candles)
    config = _backtest_config(BREAKDOWN_SET)
    return grid_set_parts(candles, config, cache, DEFAULT_BLOCKS, 5 * repeats)


def _hand_loops(candles: Candles) -> Callable[[], None]:
    def run() -> None:
        for params in SETS:
            peers.hand_loop_run(candles, params["fast"], params["slow"], FEE_RATE, CASH)()

    return run


@dataclass(frozen=True)
class SameInputs:
    """The grid in this process on what a worker loads for the job: the candles and the
    perpetual's market (mark prices and funding, the candles' own where none are stored),
    which the `ours` row runs without (about half again as much work per set)."""

    seconds: float
    cpu_seconds: float


async def _same_inputs(settings: Settings, candles: Candles, repeats: int) -> SameInputs:
    spec = OptimizationSpec.model_validate(_request(len(candles)))
    conn = await asyncpg.connect(settings.database_url)
    try:
        market = await load_perp_market(conn, spec.backtest, candles)
    finally:
        await conn.close()
    parsed = parse_optimization(_request(len(candles)))[1]
    cpu_seconds: list[float] = []

    def run() -> None:
        cpu = time.process_time()
        evaluate_sets(candles, parsed, SETS, 0, 0, market)
        cpu_seconds.append(time.process_time() - cpu)

    run()  # the market's kernels compiled or loaded
    cpu_seconds.clear()
    return SameInputs(best_seconds(run, repeats), min(cpu_seconds))


async def _queue_rows(
    candles: Candles, worker_counts: list[int], repeats: int
) -> list[dict[str, Any]]:
    bars = len(candles)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-optimization-") as logs:
        async with bench_settings(BENCH_DATABASE) as settings:
            await store_candles(settings.database_url, SERIES, candles)
            _say("ours on the inputs a worker loads (with the perpetual's market) ...")
            same = await _same_inputs(settings, candles, repeats)
            for workers in worker_counts:
                _say(f"{workers} worker(s) through the queue ...")
                run = await through_the_queue(
                    settings, _request(bars), workers, repeats, Path(logs)
                )
                rows.append(
                    _row(
                        f"ours through the queue, {workers} engine worker(s)",
                        bars,
                        run.seconds,
                        workers,
                        "job created to succeeded: planning, chunks over RabbitMQ, candles"
                        " loaded once per worker and kept in its pool processes, results in"
                        " PostgreSQL",
                        workers=workers,
                        engine_cpu_seconds=round(run.engine_cpu_seconds, 3),
                        chunks=run.chunks,
                        in_process_same_inputs_seconds=round(same.seconds, 3),
                        in_process_same_inputs_cpu_seconds=round(same.cpu_seconds, 3),
                    )
                )
    return rows


def run_optimization_bench(
    bars: int = BARS,
    repeats: int = 2,
    vectorbt_sets: int = VECTORBT_SETS,
    worker_counts: list[int] | None = None,
) -> list[dict[str, Any]]:
    """Rows: ours and vectorbt on one core, then through the queue with 1 and 2 workers."""
    candles = random_walk(bars)
    rows = _compute_rows(candles, repeats, vectorbt_sets)
    rows.extend(asyncio.run(_queue_rows(candles, worker_counts or list(WORKERS), repeats)))
    return rows


# --- command line --------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bars", type=int, default=BARS, help="1-minute bars per backtest")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs; the best counts")
    parser.add_argument(
        "--vectorbt-sets",
        type=int,
        default=VECTORBT_SETS,
        help=f"parameter sets vectorbt is timed on, scaled to all {len(SETS)}",
    )
    parser.add_argument(
        "--workers",
        type=int,
        action="append",
        help="engine workers through the queue (repeatable); default: 1 then 2",
    )


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    rows = run_optimization_bench(args.bars, args.repeats, args.vectorbt_sets, args.workers)
    parts = set_breakdown(args.bars, args.repeats)
    print(optimization_report.write(rows, report_path("optimization"), parts))
    _say(f"{time.monotonic() - started:.0f} s in all")
    return 0
