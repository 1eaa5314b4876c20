"""API benchmark: requests per second and latency of reading and submitting backtests.

`python -m services.api` runs in a process of its own against a fresh database holding
1,000 hourly candles (so submissions validate) and one backtest to read; the load comes from
`bench.load_generator` in another process: a closed loop over keep-alive connections, each
sending its next request when the previous answer is in. Nothing consumes the jobs: the API's
outbox relay publishes them to a queue under a unique prefix, deleted afterwards.
"""

import argparse
import asyncio
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bench import api_report, proc_stats
from bench.cli import add_scenario_option
from bench.load_generator import LoadSpec, LoadSummary, run_in_child
from bench.report_files import report_path
from bench.seed import backtest_request, store_candles
from bench.service_stack import RunningApi, bench_settings, running_api
from bench.synthetic import random_walk
from services.ingest.kline_store import Series

BENCH_DATABASE = "backtester_bench_api"
SERIES = Series("linear", "BTCUSDT", "60")
HOURLY_BARS = 1000


@dataclass(frozen=True)
class Scenario:
    name: str
    method: str
    target_rps: float
    target_p99_ms: float | None
    target: str
    expected_status: str

    def path(self, backtest_id: str) -> str:
        return f"/api/v1/backtests/{backtest_id}" if self.method == "GET" else "/api/v1/backtests"


SCENARIOS = {
    s.name: s
    for s in (
        Scenario("get", "GET", 3000, 20.0, ">= 3,000 req/s with p99 < 20 ms", "200"),
        Scenario("post", "POST", 1000, None, ">= 1,000 submissions/s", "202"),
    )
}


@dataclass(frozen=True)
class ApiResult:
    scenario: str
    request: str
    connections: int
    target: str
    summary: LoadSummary
    cpu_cores: dict[str, float]  # average cores used during the load, by process

    @property
    def passed(self) -> bool:
        s, scenario = self.summary, SCENARIOS[self.scenario]
        return (
            s.errors == 0
            and s.statuses == {scenario.expected_status: s.requests}
            and s.requests_per_second >= scenario.target_rps
            and (scenario.target_p99_ms is None or s.latency_ms["p99"] < scenario.target_p99_ms)
        )

    @property
    def cpu_ms_per_request(self) -> dict[str, float]:
        """CPU milliseconds each process spent per answer: steadier than the rate on a busy host."""
        rate = self.summary.requests_per_second
        return {
            name: round(share / rate * 1000, 3)
            for name, share in self.cpu_cores.items()
            if name != "machine_busy" and rate > 0
        }

    def as_dict(self) -> dict[str, Any]:
        per_request = {"cpu_ms_per_request": self.cpu_ms_per_request}
        return {**asdict(self), **per_request, "passed": self.passed}


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
