"""Jobs benchmark: backtests per second end to end, with one engine worker and with two.

The API and each engine worker (`python -m services.engine`, one simulation process each)
run in processes of their own against a fresh database holding 10,000 1-minute candles.
Backtests are submitted through the API, go through its outbox and RabbitMQ to the workers,
and are timed from the first one's creation to the last one's end as the database recorded
them. A few warm-up jobs first load each worker's numba kernels.
"""

import argparse
import asyncio
import tempfile
from pathlib import Path
from typing import Any

from bench.jobs import report as jobs_report
from bench.jobs.progress import JobsProgress, submit, wait_settled
from bench.jobs.result import JobsResult
from bench.support import proc_stats
from bench.support.report_files import report_path
from bench.support.seed import backtest_request, store_candles
from bench.support.service_stack import (
    RunningApi,
    bench_settings,
    running_api,
    running_engines,
)
from bench.support.synthetic import random_walk
from domain.market.candles import Candles
from services.ingest.kline_store import Series
from shared.settings import Settings

BENCH_DATABASE = "backtester_bench_jobs"
SERIES = Series("linear", "BTCUSDT", "1")
WARMUP_JOBS_PER_WORKER = 2


def _bodies(candles: Candles, count: int) -> list[dict[str, Any]]:
    """Backtests that differ in their parameters, so no two are the same work."""
    return [
        backtest_request(SERIES, candles, fast=5 + i % 20, slow=30 + i % 50) for i in range(count)
    ]


async def _run_workers(
    settings: Settings, api: RunningApi, candles: Candles, workers: int, jobs: int, logs: Path
) -> JobsResult:
    async with running_engines(settings, workers, logs, within=60) as engines:
        warmup = await submit(api.url, _bodies(candles, WARMUP_JOBS_PER_WORKER * workers))
        await wait_settled(settings.database_url, warmup, within=120)
        pids = {"api": api.pid, **{f"engine-{i}": p.pid for i, p in enumerate(engines)}}
        before = proc_stats.CpuReading.take(pids, ("postgres", "beam.smp"), with_children=True)
        ids = await submit(api.url, _bodies(candles, jobs))
        submitted = proc_stats.CpuReading.take({})
        progress = await wait_settled(settings.database_url, ids, within=300)
        after = proc_stats.CpuReading.take(pids, ("postgres", "beam.smp"), with_children=True)
    return _result(workers, len(candles), progress, submitted.at - before.at, before, after)


def _result(
    workers: int,
    bars: int,
    progress: JobsProgress,
    submit_seconds: float,
    before: proc_stats.CpuReading,
    after: proc_stats.CpuReading,
) -> JobsResult:
    shares = after.share_since(before)
    engines = [name for name in shares if name.startswith("engine-")]
    cpu = {
        "api": shares["api"],
        "engines": sum(shares[name] for name in engines),
        "postgres": shares["postgres"],
        "rabbitmq": shares["rabbitmq"],
        "machine_busy": shares["machine_busy"],
    }
    wall = after.at - before.at
    seconds = progress.elapsed_seconds
    return JobsResult(
        workers=workers,
        jobs=progress.jobs,
        bars=bars,
        succeeded=progress.succeeded,
        failed=progress.failed,
        first_error=progress.first_error,
        seconds=round(seconds, 3),
        jobs_per_second=round(progress.succeeded / seconds, 1) if seconds > 0 else 0.0,
        submit_seconds=round(submit_seconds, 3),
        median_queued_seconds=progress.median_queued_seconds,
        median_run_seconds=progress.median_run_seconds,
        cpu_cores={name: round(share, 2) for name, share in cpu.items()},
        cpu_ms_per_job={
            name: round(share * wall / progress.jobs * 1000, 1)
            for name, share in cpu.items()
            if name != "machine_busy" and progress.jobs
        },
    )


async def run_jobs_bench(worker_counts: list[int], jobs: int, bars: int) -> list[JobsResult]:
    candles = random_walk(bars)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-jobs-") as logs:
        async with bench_settings(BENCH_DATABASE) as settings:
            await store_candles(settings.database_url, SERIES, candles)
            async with running_api(settings, Path(logs) / "api.log") as api:
                for workers in worker_counts:
                    print(f"jobs benchmark: {jobs} backtests, {workers} worker(s) ...", flush=True)
                    result = await _run_workers(settings, api, candles, workers, jobs, Path(logs))
                    print("  " + jobs_report.one_line(result), flush=True)
                    results.append(result)
    return results


# --- command line --------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workers",
        type=int,
        action="append",
        help="engine workers (repeatable); default: 1 then 2",
    )
    parser.add_argument("--jobs", type=int, default=200, help="backtests per run")
    parser.add_argument("--bars", type=int, default=10_000, help="1-minute candles per backtest")


def run(args: argparse.Namespace) -> int:
    results = asyncio.run(run_jobs_bench(args.workers or [1, 2], args.jobs, args.bars))
    print(jobs_report.write(results, report_path("jobs")))
    return 0
