"""API benchmark: requests per second and latency of reading and submitting backtests.

`python -m services.api` runs in a process of its own against a fresh database holding
1,000 hourly candles (so submissions validate) and one backtest to read; the load comes from
`bench.api.load_generator` in another process: a closed loop over keep-alive connections, each
sending its next request when the previous answer is in. Nothing consumes the jobs: the API's
outbox relay publishes them to a queue under a unique prefix, deleted afterwards.
"""

import argparse
import asyncio
import tempfile
from pathlib import Path
from typing import Any

import aiohttp

from bench.api import report as api_report
from bench.api.load_generator import LoadSpec, run_in_child
from bench.api.result import SCENARIOS, ApiResult, Scenario
from bench.support import proc_stats
from bench.support.cli import add_scenario_option
from bench.support.report_files import report_path
from bench.support.seed import backtest_request, store_candles
from bench.support.service_stack import RunningApi, bench_settings, running_api
from bench.support.synthetic import random_walk
from services.ingest.kline_store import Series

BENCH_DATABASE = "backtester_bench_api"
SERIES = Series("linear", "BTCUSDT", "60")
HOURLY_BARS = 1000


async def _load(api: RunningApi, scenario: Scenario, spec: LoadSpec) -> ApiResult:
    """Run the generator against the API, with the CPU each process used meanwhile."""
    before = proc_stats.CpuReading.take({"api": api.pid}, ("postgres", "beam.smp"))
    summary = await run_in_child(spec)
    after = proc_stats.CpuReading.take({"api": api.pid}, ("postgres", "beam.smp"))
    cpu = after.share_since(before)
    cpu["generator"] = summary.cpu_seconds / max(after.at - before.at, 1e-9)
    return ApiResult(
        scenario=scenario.name,
        request=f"{scenario.method} {scenario.path('{id}')}",
        connections=spec.connections,
        target=scenario.target,
        summary=summary,
        cpu_cores={name: round(share, 2) for name, share in cpu.items()},
    )


async def _first_backtest(api: RunningApi, body: dict[str, Any]) -> str:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{api.url}/api/v1/backtests", json=body) as resp,
    ):
        if resp.status != 202:
            raise RuntimeError(f"POST /api/v1/backtests: {resp.status} {await resp.text()}")
        backtest_id: str = (await resp.json())["id"]
        return backtest_id


async def run_api_bench(
    names: list[str], connections: int, seconds: float, api_module: str = "services.api"
) -> list[ApiResult]:
    candles = random_walk(HOURLY_BARS, minutes_per_bar=60)
    body = backtest_request(SERIES, candles)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-api-") as logs:
        async with bench_settings(BENCH_DATABASE) as settings:
            await store_candles(settings.database_url, SERIES, candles)
            async with running_api(settings, Path(logs) / "api.log", api_module) as api:
                backtest_id = await _first_backtest(api, body)
                for name in names:
                    scenario = SCENARIOS[name]
                    print(f"api benchmark: {scenario.method} for {seconds:g} s ...", flush=True)
                    spec = LoadSpec(
                        method=scenario.method,
                        url=api.url + scenario.path(backtest_id),
                        body=body if scenario.method == "POST" else None,
                        connections=connections,
                        seconds=seconds,
                    )
                    result = await _load(api, scenario, spec)
                    print("  " + api_report.one_line(result), flush=True)
                    results.append(result)
    return results


# --- command line --------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_scenario_option(parser, SCENARIOS)
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections")
    parser.add_argument("--seconds", type=float, default=10.0, help="of load per scenario")
    parser.add_argument(
        "--api-module",
        default="services.api",
        help="run this module as the API (to measure an experiment with the same harness)",
    )


def run(args: argparse.Namespace) -> int:
    names = args.scenario or list(SCENARIOS)
    results = asyncio.run(run_api_bench(names, args.connections, args.seconds, args.api_module))
    print(api_report.write(results, report_path("api")))
    return 0
