"""Submissions benchmark: jobs submitted per second over AMQP beside `POST /backtests`, and
the latency from publish to the accepted reply.

`python -m services.api` runs in a process of its own against a fresh database holding 1,000
hourly candles (so submissions validate). The HTTP load is the API benchmark's closed loop
(its own process), without and with an `Idempotency-Key` per request (an AMQP submission
always has one, its `id`); the AMQP load is a closed loop of as many submissions in flight as HTTP
connections, each published with a confirm, answered on a reply queue. Nothing consumes the
jobs: they wait in a queue under a unique prefix, deleted afterwards.
"""

import argparse
import asyncio
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.api.load_generator import LoadSpec, LoadSummary, run_in_child
from bench.submissions import report
from bench.submissions.amqp_load import amqp_load
from bench.support import proc_stats
from bench.support.report_files import report_path
from bench.support.seed import backtest_request, store_candles
from bench.support.service_stack import RunningApi, bench_settings, running_api
from bench.support.synthetic import random_walk
from services.ingest.kline_store import Series
from shared.amqp import Topology
from shared.settings import Settings

BENCH_DATABASE = "backtester_bench_submissions"
SERIES = Series("linear", "BTCUSDT", "60")
HOURLY_BARS = 1000


@dataclass(frozen=True)
class TransportResult:
    transport: str  # "HTTP" or "AMQP"
    in_flight: int
    summary: LoadSummary
    cpu_cores: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def _measured(api: RunningApi, load: Any) -> tuple[LoadSummary, dict[str, float]]:
    before = proc_stats.CpuReading.take({"api": api.pid}, ("postgres", "beam.smp"))
    summary: LoadSummary = await load
    after = proc_stats.CpuReading.take({"api": api.pid}, ("postgres", "beam.smp"))
    cpu = after.share_since(before)
    return summary, {name: round(share, 2) for name, share in cpu.items()}


async def run_submissions_bench(in_flight: int, seconds: float) -> list[TransportResult]:
    candles = random_walk(HOURLY_BARS, minutes_per_bar=60)
    body = backtest_request(SERIES, candles)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-submissions-") as logs:
        async with bench_settings(BENCH_DATABASE) as settings:
            await store_candles(settings.database_url, SERIES, candles)
            async with running_api(settings, Path(logs) / "api.log") as api:
                for transport, keyed in (("HTTP", False), ("HTTP with Idempotency-Key", True)):
                    print(f"submissions benchmark: {transport} for {seconds:g} s ...", flush=True)
                    spec = LoadSpec(
                        "POST",
                        f"{api.url}/api/v1/backtests",
                        body,
                        in_flight,
                        seconds,
                        idempotency_keys=keyed,
                    )
                    summary, cpu = await _measured(api, run_in_child(spec))
                    results.append(TransportResult(transport, in_flight, summary, cpu))
                    print("  " + report.one_line(results[-1]), flush=True)
                print(f"submissions benchmark: AMQP for {seconds:g} s ...", flush=True)
                summary, cpu = await _measured(api, _amqp(settings, body, in_flight, seconds))
                results.append(TransportResult("AMQP", in_flight, summary, cpu))
                print("  " + report.one_line(results[-1]), flush=True)
    return results


def _amqp(settings: Settings, body: dict[str, Any], in_flight: int, seconds: float) -> Any:
    topology = Topology(settings.amqp_prefix)
    return amqp_load(settings.amqp_url, topology, body, in_flight=in_flight, seconds=seconds)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--in-flight", type=int, default=32, help="requests or submissions")
    parser.add_argument("--seconds", type=float, default=10.0, help="of load per transport")


def run(args: argparse.Namespace) -> int:
    results = asyncio.run(run_submissions_bench(args.in_flight, args.seconds))
    print(report.write(results, report_path("submissions")))
    return 0
