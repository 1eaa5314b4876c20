"""Ingest benchmark: candles per second from the simulated Bybit into PostgreSQL.

The simulator and the ingest each run as `python -m ...` in a process of their own, as they
are deployed; backfill jobs go through the real queue, and the rate is rows written over the
time from the first job's start to the last one's end, as the database recorded them.
"""

import argparse
import asyncio
import tempfile
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from bench.ingest.progress import Followed, follow
from bench.ingest.report import write_report
from bench.ingest.result import IngestResult
from bench.ingest.setup import queue_backfills, sim_env
from bench.support import proc_stats
from bench.support.cli import add_scenario_option
from bench.support.report_files import report_path
from bench.support.scratch import delete_topology, drop_database, fresh_database, unique_prefix
from devtools.launcher import child_process, free_port, tail, wait_until_serving
from shared.repos.backfills import BackfillSpec
from shared.settings import Settings

BENCH_DATABASE = "backtester_bench"
BYBIT_CEILING_CPS = 120_000  # 600 requests per 5 s, 1000 candles each

_HISTORY_START = datetime(2020, 1, 1, tzinfo=UTC)
_JOBS_START = datetime(2021, 1, 1, tzinfo=UTC)
_SIM_CLOCK_START = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    sim_rate_limit: bool
    requests_per_second: float  # the ingest's own pacing (Settings allows at most 120)
    target_cps: float
    target: str


SCENARIOS = {
    s.name: s
    for s in (
        Scenario(
            "no-limit",
            "simulator rate limit off",
            sim_rate_limit=False,
            requests_per_second=120.0,
            target_cps=100_000,
            target=">= 100,000 candles/s",
        ),
        Scenario(
            "limit",
            "Bybit's limit on (600 req / 5 s), ingest paced at 95%",
            sim_rate_limit=True,
            requests_per_second=114.0,
            target_cps=0.9 * BYBIT_CEILING_CPS,
            target=">= 108,000 candles/s (90% of 120,000), no 403",
        ),
    )
}


@dataclass(frozen=True)
class RunConfig:
    symbols: tuple[str, ...]  # linear symbols; one backfill job each, run one after another
    days: float  # of 1-minute candles per symbol
    pages_in_flight: int
    pages_per_commit: int
    within_seconds: float  # give up measuring after this long
    ingest_module: str = "services.ingest"  # what `python -m` runs as the ingest

    def specs(self) -> list[BackfillSpec]:
        end = _JOBS_START + timedelta(days=self.days) - timedelta(minutes=1)
        # Candles only: the throughput measured is candles per second.
        return [
            BackfillSpec(
                category="linear", symbol=s, interval="1", start=_JOBS_START, end=end, include=()
            )
            for s in self.symbols
        ]

    @property
    def candles(self) -> int:
        return len(self.symbols) * round(self.days * 1440)


def _base_settings() -> Settings:
    """Servers from the environment (DATABASE_URL, AMQP_URL), as every entry point does."""
    return Settings()


async def run_scenario(scenario: Scenario, config: RunConfig, logs: Path) -> IngestResult:
    base = _base_settings()
    prefix = unique_prefix()
    dsn = await fresh_database(base.database_url, BENCH_DATABASE)
    port = free_port()
    sim_url = f"http://127.0.0.1:{port}"
    settings = base.model_copy(
        update={
            "database_url": dsn,
            "amqp_prefix": prefix,
            "bybit_rest_url": sim_url,
            "ingest_streams": "",
            "ingest_requests_per_second": scenario.requests_per_second,
            "ingest_pages_in_flight": config.pages_in_flight,
            "ingest_pages_per_commit": config.pages_per_commit,
        }
    )
    sim_log, ingest_log = logs / f"sim-{scenario.name}.log", logs / f"ingest-{scenario.name}.log"
    env = sim_env(
        port=port,
        rate_limit_enabled=scenario.sim_rate_limit,
        symbols=[f"linear:{s}" for s in config.symbols],
        history_start=_HISTORY_START.isoformat(),
        clock_start=_SIM_CLOCK_START.isoformat(),
        log_level="WARNING",
    )
    try:
        async with (
            aiohttp.ClientSession() as http,
            child_process("services.bybit_sim", env, log=sim_log) as sim,
        ):
            await wait_until_serving(f"{sim_url}/sim/stats", sim, sim_log)
            await queue_backfills(dsn, config.specs())
            async with child_process(
                config.ingest_module, settings.environment(), log=ingest_log
            ) as ingest:
                pids = {"sim": sim.pid, "ingest": ingest.pid}
                followed = await follow(dsn, pids, within=config.within_seconds)
                peak = {name: proc_stats.peak_rss_mb(pid) for name, pid in pids.items()}
            async with http.get(f"{sim_url}/sim/stats") as resp:
                resp.raise_for_status()
                stats = await resp.json()
            peak["bench"] = proc_stats.peak_rss_mb()
    finally:
        await delete_topology(base.amqp_url, prefix)
    if followed.progress.started is None:
        raise RuntimeError(f"no backfill started; ingest log:\n{tail(ingest_log)}")
    return _result(scenario, config, settings, followed, stats, peak)


def _result(
    scenario: Scenario,
    config: RunConfig,
    settings: Settings,
    followed: Followed,
    stats: dict[str, int],
    peak: dict[str, float],
) -> IngestResult:
    progress = followed.progress
    seconds = progress.elapsed_seconds
    median, worst = followed.sustained()
    return IngestResult(
        scenario=scenario.name,
        title=scenario.title,
        target=scenario.target,
        target_cps=scenario.target_cps,
        requests_per_second=settings.ingest_requests_per_second,
        pages_in_flight=settings.ingest_pages_in_flight,
        pages_per_commit=settings.ingest_pages_per_commit,
        jobs=progress.jobs,
        candles_expected=config.candles,
        rows=progress.rows,
        pages=progress.pages,
        seconds=round(seconds, 3),
        candles_per_second=round(progress.rows / seconds) if seconds > 0 else 0.0,
        sustained_median_cps=round(median),
        sustained_worst_cps=round(worst),
        completed=progress.succeeded == progress.jobs and progress.rows == config.candles,
        errors=progress.errors,
        sim_requests=int(stats.get("requests", 0)),
        sim_403=int(stats.get("forbidden", 0)),
        sim_bans=int(stats.get("bans", 0)),
        peak_rss_mb={name: round(mb, 1) for name, mb in peak.items()},
        cpu_cores={name: round(share, 2) for name, share in followed.cpu.items()},
        cpu_seconds_per_million={
            name: round(share * seconds / progress.rows * 1e6, 2) if progress.rows else 0.0
            for name, share in followed.cpu.items()
            if name != "machine_busy"
        },
    )


# --- command line --------------------------------------------------------------------------

# Tuned on a 2-core machine with `python -m bench ingest --sweep`.
DEFAULT_PAGES_IN_FLIGHT = 16
DEFAULT_PAGES_PER_COMMIT = 10
_SWEEP_IN_FLIGHT = (8, 16, 32, 64)
_SWEEP_PER_COMMIT = (10, 20, 50)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_scenario_option(parser, SCENARIOS)
    parser.add_argument("--symbols", default="BTCUSDT,ETHUSDT", help="one job per symbol")
    parser.add_argument("--days", type=float, default=870.0, help="of 1-minute candles per job")
    parser.add_argument("--pages-in-flight", type=int, default=DEFAULT_PAGES_IN_FLIGHT)
    parser.add_argument("--pages-per-commit", type=int, default=DEFAULT_PAGES_PER_COMMIT)
    parser.add_argument("--within", type=float, default=70.0, help="seconds before giving up")
    parser.add_argument(
        "--ingest-module",
        default="services.ingest",
        help="run this module as the ingest (to measure an experiment with the same harness)",
    )
    parser.add_argument(
        "--sweep",
        action="store_true",
        help="instead: try pages in flight x pages per commit on the no-limit scenario",
    )


def _config(args: argparse.Namespace, **changes: Any) -> RunConfig:
    config = RunConfig(
        symbols=tuple(s.strip().upper() for s in args.symbols.split(",") if s.strip()),
        days=args.days,
        pages_in_flight=args.pages_in_flight,
        pages_per_commit=args.pages_per_commit,
        within_seconds=args.within,
        ingest_module=args.ingest_module,
    )
    return replace(config, **changes)


async def _run_all(args: argparse.Namespace) -> list[IngestResult]:
    names = args.scenario or list(SCENARIOS)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as logs:
        try:
            if args.sweep:
                for in_flight in _SWEEP_IN_FLIGHT:
                    for per_commit in _SWEEP_PER_COMMIT:
                        config = _config(
                            args, pages_in_flight=in_flight, pages_per_commit=per_commit
                        )
                        result = await run_scenario(SCENARIOS["no-limit"], config, Path(logs))
                        print(_one_line(result), flush=True)
                        results.append(result)
            else:
                for name in names:
                    print(f"ingest benchmark: {name} ...", flush=True)
                    result = await run_scenario(SCENARIOS[name], _config(args), Path(logs))
                    print(_one_line(result), flush=True)
                    results.append(result)
        finally:
            await drop_database(_base_settings().database_url, BENCH_DATABASE)
    return results


def _one_line(r: IngestResult) -> str:
    return (
        f"  {r.scenario}: in flight {r.pages_in_flight}, per commit {r.pages_per_commit}: "
        f"{r.rows:,} rows in {r.seconds:.1f} s = {r.candles_per_second:,.0f} candles/s, "
        f"403s {r.sim_403}, {'PASS' if r.passed else 'FAIL'}"
    )


def run(args: argparse.Namespace) -> int:
    results = asyncio.run(_run_all(args))
    name = "ingest_sweep" if args.sweep else "ingest"
    print(write_report(results, report_path(name)))
    return 0
