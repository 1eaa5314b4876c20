"""Bayesian search benchmark: 200 trials of sma_cross with a trailing stop over a year of
1-minute bars (525,600), on two engine workers through the queue.

The search runs as an optimization job (batches of 16 asked by Optuna's TPE, each batch's
trials as chunks any worker takes), timed from the job's `created_at` to its `finished_at`.
The overhead per trial outside the simulation is what the engine workers (their pool
processes included) spent on the job beyond the simulations themselves: the same sets
evaluated in this process (`evaluate_sets`), chunk by chunk as the engine cut them, give the
simulations' CPU. One search's figure rests on CPU ticks of a few seconds on a shared
machine, so the same search runs `--searches` times (3), each as a fresh job after the same
warm-up, with its own idle measure just before it and its own in-process evaluation just
after it; the report gives the median with the spread, and each part's. Separately, every batch's
ask step is run again here on the stored trials, with the study held from batch to batch and
with it rebuilt from storage, to say how much of that overhead is Optuna's. Then the full
grid over the same space (the same lattice: every value a step lands on) runs in this
process, and the search's best is compared with the grid's.
"""

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import numpy as np

from bench.bayes import report as bayes_report
from bench.support.proc_stats import command_cpu_seconds, cpu_seconds, tree_cpu_seconds
from bench.support.report_files import report_path
from bench.support.seed import store_candles
from bench.support.service_stack import bench_settings, running_engines
from bench.support.synthetic import START_MS, random_walk
from devtools.job_follower import follow_job
from devtools.launcher import tail
from domain.market.candles import Candles
from domain.optimization.ranking import ranking_key
from domain.optimization.walk_forward import progress_total
from services.engine.optimization.bayes_study import SearchStudy, ask_batch, new_sampler
from services.engine.optimization.in_pool import evaluate_sets
from services.engine.optimization.parsed_request import ParsedOptimization, parse_optimization
from services.ingest.kline_store import Series
from shared.db import create_pool
from shared.messages import RunOptimizationChunk
from shared.optimization_spec import OptimizationSpec
from shared.param_space import ASKS_PER_TRIAL
from shared.repos import optimizations as optimizations_repo
from shared.repos.bayes_trials import StoredTrial
from shared.settings import Settings

BARS = 525_600
TRIALS = 200
BATCH = 16
WORKERS = 2
SEARCHES = 3  # measured searches, each a fresh job with the same request after a warm-up
IDLE_SECONDS = 5.0
GRID_CHUNK = 100  # sets evaluated at once when the full grid runs in this process
BENCH_DATABASE = "backtester_bench_bayes"
SERIES = Series("linear", "BTCUSDT", "1")
# A short search on other bars before each measured search's warm-up: each pool process keeps
# the indicators of one range only, so it drops the year's, and every measured search starts
# alike rather than with every window the one before it computed. Two batches, so the
# workers have asked with TPE (the first 10 trials are random) before the first measured one.
FLUSH_SERIES = Series("linear", "ETHUSDT", "1")
FLUSH_BARS = 5_000
FLUSH_TRIALS = 2 * BATCH
FEE_RATE = 0.00055


def _say(text: str) -> None:
    print(f"bayes benchmark: {text}", flush=True)


def _request(bars: int, trials: int, series: Series = SERIES) -> dict[str, Any]:
    return {
        "kind": "bayes",
        "backtest": {
            "category": series.category,
            "symbol": series.symbol,
            "interval": series.interval,
            "start": START_MS,
            "end": START_MS + (bars - 1) * 60_000,
            "strategy": {"name": "sma_cross"},
            "fee_rate": FEE_RATE,
            "funding": False,
        },
        "objective": "sharpe",
        # 20 x 20 x 5 = 2,000 points, so the full grid over the same space can run too.
        "param_space": {
            "fast": {"low": 2, "high": 40, "step": 2},
            "slow": {"low": 50, "high": 240, "step": 10},
            "trailing_stop": {"low": 0.01, "high": 0.05, "step": 0.01},
        },
        "search": {"trials": trials, "batch": BATCH, "sampler": "tpe", "seed": 1},
    }


def _grid(spec: OptimizationSpec) -> list[dict[str, Any]]:
    """Every point of the space's lattice, as parameter sets."""
    base = spec.backtest.strategy.resolved_params
    sets: list[dict[str, Any]] = [dict(base)]
    for d in spec.dimensions():
        assert d.step is not None
        count = round((d.high - d.low) / d.step) + 1
        values = [d.low + i * d.step for i in range(count)]
        if d.kind == "float":
            values = [round(v, 12) for v in values]
        sets = [{**s, d.name: v} for s in sets for v in values]
    entry = spec.backtest.strategy.entry()
    return [s for s in sets if entry.broken_rule(s) is None]


async def _wait_settled(pool: asyncpg.Pool, optimization_id: UUID) -> Any:
    async def read() -> Any:
        return await pool.fetchrow(
            """SELECT status, error, created_at, finished_at, best, search
               FROM optimizations WHERE id = $1""",
            optimization_id,
        )

    return await follow_job(read, within=1800, every=0.05, what="bayes search")


async def _submit_and_wait(
    pool: asyncpg.Pool, spec: OptimizationSpec, logs: Path
) -> tuple[UUID, Any]:
    assert spec.search is not None
    async with pool.acquire() as conn:
        optimization_id = await optimizations_repo.create_optimization(
            conn,
            "bayes",
            spec.model_dump(mode="json"),
            progress_total(spec.search.trials, None),
            0,
        )
    job = await _wait_settled(pool, optimization_id)
    if job["status"] != "succeeded":
        raise RuntimeError(
            f"the search is {job['status']}: {job['error']}; engine log:\n"
            f"{tail(logs / 'engine-0.log')}"
        )
    return optimization_id, job


async def _search(
    settings: Settings,
    spec: OptimizationSpec,
    logs: Path,
    searches: int,
    simulations: Callable[[list[dict[str, Any]]], float],
) -> list[dict[str, Any]]:
    """The search through the queue on WORKERS engine workers, `searches` times, and what
    each stored; `simulations`: the CPU seconds of a search's stored trials evaluated in this
    process, taken right after it (the machine as loaded as during it)."""
    assert spec.search is not None
    async with running_engines(settings, WORKERS, logs, consuming=RunOptimizationChunk) as engines:
        pool = await create_pool(settings.database_url, max_size=1)
        try:
            # Before each measured search, the search on other bars (FLUSH_SERIES), then a
            # short one on the same range: the workers load the candles and their pool
            # processes the compiled kernels, as a platform that has run before has.
            warm_up = spec.model_copy(
                update={"search": spec.search.model_copy(update={"trials": 10, "seed": 99})}
            )
            flush, _ = parse_optimization(_request(FLUSH_BARS, FLUSH_TRIALS, FLUSH_SERIES))
            measured: list[dict[str, Any]] = []
            # Search 0 is the first after the workers start (after the 10-trial warm-up
            # alone): reported on its own, with its first-use costs, not in the median.
            for search in range(searches + 1):
                if search:
                    await _submit_and_wait(pool, flush, logs)
                await _submit_and_wait(pool, warm_up, logs)
                measured.append(await _measured_search(pool, [e.pid for e in engines], spec, logs))
                measured[-1]["kernel_cpu_seconds"] = simulations(measured[-1]["trials"])
        finally:
            await pool.close()
    return measured


async def _measured_search(
    pool: asyncpg.Pool, engines: list[int], spec: OptimizationSpec, logs: Path
) -> dict[str, Any]:
    """One search as a fresh job on idle workers: its CPU, and what it stored."""
    # What idle workers spend anyway (consumers, the outbox relay, health): not the
    # search's, so it is taken out at this rate over the search's duration.
    idle_before, idle_started = sum(tree_cpu_seconds(e) for e in engines), time.monotonic()
    await asyncio.sleep(IDLE_SECONDS)
    idle_rate = (sum(tree_cpu_seconds(e) for e in engines) - idle_before) / (
        time.monotonic() - idle_started
    )
    cpu_before = sum(tree_cpu_seconds(e) for e in engines)
    loops_before = sum(cpu_seconds(e) for e in engines)
    servers_before = command_cpu_seconds("postgres") + command_cpu_seconds("beam.smp")
    optimization_id, job = await _submit_and_wait(pool, spec, logs)
    cpu = sum(tree_cpu_seconds(e) for e in engines) - cpu_before
    loops = sum(cpu_seconds(e) for e in engines) - loops_before
    servers = command_cpu_seconds("postgres") + command_cpu_seconds("beam.smp") - servers_before
    trials = await pool.fetch(
        """SELECT number, batch, position, chunk, params, system_attrs, state, value
           FROM optimization_trials WHERE optimization_id = $1 ORDER BY number""",
        optimization_id,
    )
    chunks = await pool.fetchval(
        "SELECT count(*) FROM optimization_chunks WHERE optimization_id = $1", optimization_id
    )
    return {
        "seconds": (job["finished_at"] - job["created_at"]).total_seconds(),
        "engine_cpu_seconds": cpu,
        "idle_cpu_per_second": idle_rate,
        "event_loop_cpu_seconds": loops,
        "server_cpu_seconds": servers,
        "best": job["best"],
        "summary": job["search"],
        "trials": [dict(t) for t in trials],
        "chunks": int(chunks),
    }


def _ask_seconds(spec: OptimizationSpec, stored: list[dict[str, Any]]) -> tuple[float, float]:
    """Every batch's ask step again on the trials stored before it, in CPU seconds: with one
    study held from batch to batch and caught up on the trials stored since (as the worker
    that asked the batch before does), and with the study rebuilt from every stored trial (as
    a worker that holds none does). Both must ask what the search stored."""
    assert spec.search is not None
    dimensions = spec.dimensions()
    entry = spec.backtest.strategy.entry()
    base = spec.backtest.strategy.resolved_params

    def breaks(params: Mapping[str, Any]) -> bool:
        return entry.broken_rule({**base, **params}) is not None

    history = [
        StoredTrial(t["number"], t["params"], t["system_attrs"], t["state"], t["value"])
        for t in stored
    ]
    held = SearchStudy.of_stored(spec.objective, dimensions, new_sampler(spec.search))
    sampler = new_sampler(spec.search)
    held_seconds, rebuilt_seconds = 0.0, 0.0
    for batch in sorted({t["batch"] for t in stored}):
        before = [h for h, t in zip(history, stored, strict=True) if t["batch"] < batch]
        wanted = sum(1 for t in stored if t["batch"] == batch and t["position"] is not None)
        asks_left = ASKS_PER_TRIAL * spec.search.trials
        started = time.process_time()
        held.catch_up([h for h in before if h.number >= held.settled_before])
        asked = held.ask(wanted, asks_left, breaks)
        held_seconds += time.process_time() - started
        started = time.process_time()
        rebuilt = ask_batch(spec.objective, dimensions, sampler, before, wanted, asks_left, breaks)
        rebuilt_seconds += time.process_time() - started
        asked_here = [
            (h.number, h.params)
            for h, t in zip(history, stored, strict=True)
            if t["batch"] == batch
        ]
        for one in (asked, rebuilt):
            if [(t.number, t.params) for t in one.trials] != asked_here:
                raise RuntimeError(f"batch {batch} asked again is not the stored batch")
        sampler = asked.sampler
    return held_seconds, rebuilt_seconds


def _evaluate(
    candles: Candles, parsed: ParsedOptimization, chunks: list[list[dict[str, Any]]]
) -> tuple[float, list[Any]]:
    """CPU seconds of evaluating each chunk's sets in this process, and their results."""
    started = time.process_time()
    results: list[Any] = []
    for sets in chunks:
        results.extend(evaluate_sets(candles, parsed, sets, len(results)))
    return time.process_time() - started, results


def _chunk_sets(spec: OptimizationSpec, stored: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The evaluated trials' sets, as the engine cut them into chunks (the per-chunk set-up,
    prices and indicators, is simulation too)."""
    base = spec.backtest.strategy.resolved_params
    by_chunk: dict[int, list[dict[str, Any]]] = {}
    for trial in stored:
        if trial["position"] is not None:
            by_chunk.setdefault(trial["chunk"], []).append({**base, **trial["params"]})
    return list(by_chunk.values())


def _search_row(search: dict[str, Any], ask: tuple[float, float]) -> dict[str, Any]:
    """One measured search's figures, per trial where they are shares of the overhead."""
    evaluated = sum(1 for t in search["trials"] if t["position"] is not None)
    idle = search["idle_cpu_per_second"] * search["seconds"]
    kernel = search["kernel_cpu_seconds"]
    pools = search["engine_cpu_seconds"] - search["event_loop_cpu_seconds"]

    def per_trial(seconds: float) -> float:
        return round(1000 * seconds / evaluated, 2)

    return {
        "trials": evaluated,
        "asks": search["summary"]["asks"],
        "chunks": search["chunks"],
        "seconds": round(search["seconds"], 3),
        "engine_cpu_seconds": round(search["engine_cpu_seconds"], 3),
        "idle_engine_cpu_seconds": round(idle, 3),
        # The workers' own processes (consumers, the ask step, the database) apart from
        # their pool processes (the simulations, and handing chunks over).
        "event_loop_cpu_seconds": round(search["event_loop_cpu_seconds"], 3),
        "pool_cpu_seconds": round(pools, 3),
        "kernel_cpu_seconds": round(kernel, 3),
        "overhead_cpu_ms_per_trial": per_trial(search["engine_cpu_seconds"] - idle - kernel),
        "own_beyond_idle_ms_per_trial": per_trial(search["event_loop_cpu_seconds"] - idle),
        "pools_beyond_one_process_ms_per_trial": per_trial(pools - kernel),
        "ask_cpu_ms_per_trial": per_trial(ask[0]),
        "rebuilt_ask_cpu_ms_per_trial": per_trial(ask[1]),
        "server_cpu_ms_per_trial": per_trial(search["server_cpu_seconds"]),
    }


def _median(rows: list[dict[str, Any]], key: str) -> float:
    return round(float(statistics.median(r[key] for r in rows)), 2)


async def _run(bars: int, trials: int, searches: int) -> list[dict[str, Any]]:
    candles = random_walk(bars)
    spec, parsed = parse_optimization(_request(bars, trials))
    assert spec.search is not None
    evaluate_sets(candles.select(np.arange(2_000)), parsed, _grid(spec)[:2], 0)  # JIT warm-up

    def simulations(stored: list[dict[str, Any]]) -> float:
        return _evaluate(candles, parsed, _chunk_sets(spec, stored))[0]

    with tempfile.TemporaryDirectory(prefix="bench-bayes-") as logs:
        async with bench_settings(BENCH_DATABASE) as settings:
            await store_candles(settings.database_url, SERIES, candles)
            await store_candles(settings.database_url, FLUSH_SERIES, random_walk(FLUSH_BARS))
            _say(
                f"{searches} x {trials} trials on {WORKERS} workers over {bars:,} bars, each"
                " search's sets again in this process after it ..."
            )
            measured = await _search(settings, spec, Path(logs), searches, simulations)
    asked = [[(t["number"], t["params"], t["state"]) for t in m["trials"]] for m in measured]
    if any(a != asked[0] for a in asked):
        raise RuntimeError("the same request gave other trials")
    first, *runs = [_search_row(m, _ask_seconds(spec, m["trials"])) for m in measured]
    search = measured[0]
    grid = _grid(spec)
    _say(f"the full grid, {len(grid)} sets, in this process ...")
    grid_chunks = [grid[i : i + GRID_CHUNK] for i in range(0, len(grid), GRID_CHUNK)]
    grid_cpu, grid_results = _evaluate(candles, parsed, grid_chunks)
    grid_best = min(grid_results, key=lambda r: ranking_key(r.metrics, "sharpe", r.index))
    found = search["best"]["metrics"]["sharpe"]
    better = sum(1 for r in grid_results if (r.metrics.get("sharpe") or float("-inf")) > found)
    medians = {
        key: _median(runs, key)
        for key in runs[0]
        if key.endswith(("_seconds", "_ms_per_trial")) or key == "seconds"
    }
    overheads = [r["overhead_cpu_ms_per_trial"] for r in runs]
    return [
        {
            "scenario": f"{trials}-trial search, {WORKERS} workers (median of {searches})",
            "trials": runs[0]["trials"],
            "asks": runs[0]["asks"],
            "batch": BATCH,
            "bars": bars,
            "chunks": runs[0]["chunks"],
            **medians,
            "overhead_cpu_ms_per_trial_min": min(overheads),
            "overhead_cpu_ms_per_trial_max": max(overheads),
            "searches": runs,
            "first_search": first,
            "best_params": search["best"]["params"],
            "best_sharpe": search["best"]["metrics"]["sharpe"],
        },
        {
            "scenario": f"full grid over the same space, 1 core in-process ({len(grid)} sets)",
            "trials": len(grid),
            "bars": bars,
            "kernel_cpu_seconds": round(grid_cpu, 3),
            "best_params": grid_best.params,
            "best_sharpe": grid_best.metrics["sharpe"],
            "grid_sets_better_than_the_search": better,
        },
    ]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bars", type=int, default=BARS, help="1-minute bars")
    parser.add_argument("--trials", type=int, default=TRIALS, help="trials of the search")
    parser.add_argument(
        "--searches", type=int, default=SEARCHES, help="measured searches (the median is reported)"
    )


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    rows = asyncio.run(_run(args.bars, args.trials, args.searches))
    print(bayes_report.write(rows, report_path("bayes")))
    _say(f"{time.monotonic() - started:.0f} s in all")
    return 0
