"""Latency benchmark (issue 27): a worker's cold start, and one backtest of a year of 1-minute
bars (525,600) end to end, in its parts.

The API runs as a process of its own against a fresh database holding the candles. An engine
worker (`python -m services.engine`, one pool process) is launched with an empty numba cache
directory (`NUMBA_CACHE_DIR`: the first start on a machine), stopped, and launched again on
the cache the first left (every later start). Each time: from the launch to the worker
consuming (it starts its pool process, which compiles or loads the kernels and runs one small
backtest before the worker takes a job), then the first and second backtests after it. On the
second worker, `--runs` more backtests run one at a time.

Each backtest is timed as a client sees it: from its POST to reading `succeeded` (the resource
polled every few milliseconds); its parts from the database (`created_at`, `started_at`,
`finished_at`) and from the worker's own log line (`backtest stored`: load, simulate, write).
Last, the pool's side of a backtest against its core, as CPU in this process (pool_side.py).
"""

import argparse
import asyncio
import contextlib
import json
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import aiohttp
import asyncpg

from bench.latency import report as latency_report
from bench.latency.pool_side import measure_pool_side
from bench.latency.result import BacktestTiming, ColdStart, LatencyResult
from bench.support import proc_stats
from bench.support.report_files import report_path
from bench.support.seed import backtest_request, store_candles
from bench.support.service_stack import bench_settings, running_api, wait_for_consumers
from bench.support.synthetic import random_walk
from devtools.launcher import child_process
from devtools.waiting import poll_until
from services.ingest.kline_store import Series
from shared.settings import Settings

BENCH_DATABASE = "backtester_bench_latency"
SERIES = Series("linear", "BTCUSDT", "1")
BARS = 525_600
POLL_SECONDS = 0.005
SETTLED = ("succeeded", "failed", "cancelled")


@dataclass(frozen=True)
class Client:
    """The API as a client sees it, the database for the jobs' timestamps, and the worker's
    log for its parts."""

    http: aiohttp.ClientSession
    api_url: str
    api_pid: int
    db: asyncpg.Connection

    async def backtest(self, body: dict[str, Any], worker: "Worker") -> BacktestTiming:
        cpu_before = self._cpu_seconds(worker)
        started = time.perf_counter()
        async with self.http.post(f"{self.api_url}/api/v1/backtests", json=body) as resp:
            if resp.status != 202:
                raise RuntimeError(f"POST /api/v1/backtests: {resp.status} {await resp.text()}")
            backtest_id = UUID((await resp.json())["id"])
        post = time.perf_counter() - started
        while True:
            async with self.http.get(f"{self.api_url}/api/v1/backtests/{backtest_id}") as resp:
                job = await resp.json()
            if job["status"] in SETTLED:
                break
            await asyncio.sleep(POLL_SECONDS)
        total = time.perf_counter() - started
        api_cpu, worker_cpu, pool_cpu = (
            after - before
            for after, before in zip(self._cpu_seconds(worker), cpu_before, strict=True)
        )
        if job["status"] != "succeeded":
            raise RuntimeError(f"the backtest {job['status']}: {job.get('error')}")
        queued = await self.db.fetchval(
            "SELECT extract(epoch FROM started_at - created_at) FROM backtests WHERE id = $1",
            backtest_id,
        )
        parts = await poll_until(
            lambda: asyncio.to_thread(_logged_parts, worker.log, backtest_id),
            lambda found: found is not None,
            within=10,
            what="the worker's log line",
        )
        assert parts is not None
        load, simulate, write = (parts[f"{p}_ms"] / 1000 for p in ("load", "simulate", "write"))
        return BacktestTiming(
            total=round(total, 3),
            post=round(post, 3),
            queued=round(float(queued), 3),
            load=load,
            simulate=simulate,
            write=write,
            other=round(total - float(queued) - load - simulate - write, 3),
            api_cpu=round(api_cpu, 3),
            worker_cpu=round(worker_cpu, 3),
            pool_cpu=round(pool_cpu, 3),
        )

    def _cpu_seconds(self, worker: "Worker") -> tuple[float, float, float]:
        """The API's, the worker's own and its pool process's CPU seconds so far."""
        own = proc_stats.cpu_seconds(worker.pid)
        tree = proc_stats.tree_cpu_seconds(worker.pid)
        return proc_stats.cpu_seconds(self.api_pid), own, tree - own

    async def trades(self) -> int:
        return int(await self.db.fetchval("SELECT count(*) FROM trades"))


def _logged_parts(engine_log: Path, backtest_id: UUID) -> dict[str, Any] | None:
    for line in engine_log.read_text().splitlines():
        if str(backtest_id) in line and "backtest stored" in line:
            parts: dict[str, Any] = json.loads(line)
            return parts
    return None


@dataclass(frozen=True)
class Worker:
    pid: int
    log: Path  # its JSON log lines
    ready: float  # seconds from its launch to consuming


@contextlib.asynccontextmanager
async def _worker(settings: Settings, numba_cache: Path, log: Path) -> AsyncIterator[Worker]:
    """An engine worker on `numba_cache`, yielded once it consumes."""
    env = {**settings.environment(), "NUMBA_CACHE_DIR": str(numba_cache)}
    launched = time.perf_counter()
    async with child_process("services.engine", env, log=log) as proc:
        await wait_for_consumers(settings.amqp_url, settings.amqp_prefix, 1, within=300)
        yield Worker(proc.pid, log, round(time.perf_counter() - launched, 3))


def _bodies(candles: Any) -> Iterator[dict[str, Any]]:
    """sma_cross over all the candles, each with other parameters (no two the same work)."""
    fast = 10
    while True:
        yield backtest_request(SERIES, candles, fast=fast, slow=3 * fast)
        fast += 1


async def run_latency_bench(bars: int, runs: int) -> LatencyResult:
    candles = random_walk(bars)
    bodies = _bodies(candles)
    cold_starts: list[ColdStart] = []
    timings: list[BacktestTiming] = []
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as scratch:
        logs = Path(scratch)
        numba_cache = logs / "numba-cache"
        numba_cache.mkdir()
        async with bench_settings(BENCH_DATABASE) as settings:
            settings = settings.model_copy(update={"log_level": "INFO"})
            await store_candles(settings.database_url, SERIES, candles)
            db = await asyncpg.connect(settings.database_url)
            async with (
                running_api(settings, logs / "api.log") as api,
                aiohttp.ClientSession() as http,
            ):
                client = Client(http, api.url, api.pid, db)
                for start, cache in enumerate(("empty", "on disk")):
                    log = logs / f"engine-{start}.log"
                    print(f"latency benchmark: a worker started, numba cache {cache} ...")
                    async with _worker(settings, numba_cache, log) as worker:
                        first = await client.backtest(next(bodies), worker)
                        second = await client.backtest(next(bodies), worker)
                        if start == 1:
                            timings = [
                                await client.backtest(next(bodies), worker) for _ in range(runs)
                            ]
                    cold_starts.append(ColdStart(cache, worker.ready, first, second))
                    print(f"  ready in {worker.ready:.2f} s, first backtest {first.total:.3f} s")
                trades = await client.trades()
            await db.close()
            print("latency benchmark: the pool's side of a backtest against its core ...")
            pool_side = await measure_pool_side(settings.database_url, next(bodies))
    total = statistics.median(t.total for t in timings)
    print(f"  {runs} backtests one at a time: median {total:.3f} s from POST to succeeded")
    print(f"  pool side {pool_side.ratio:.2f}x the core's CPU")
    return LatencyResult(
        bars,
        trades // (2 * len(cold_starts) + runs),
        cold_starts,
        timings,
        pool_side.core,
        pool_side.simulate,
        pool_side.pool_side,
    )


# --- command line --------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bars", type=int, default=BARS, help="1-minute candles per backtest")
    parser.add_argument("--runs", type=int, default=5, help="backtests one at a time, warm")


def run(args: argparse.Namespace) -> int:
    result = asyncio.run(run_latency_bench(args.bars, args.runs))
    print(latency_report.write(result, report_path("latency")))
    return 0
