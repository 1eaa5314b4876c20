"""Submissions benchmark: jobs submitted per second over AMQP beside `POST /backtests`, and
the latency from publish to the accepted reply.

`python -m services.api` runs in a process of its own against a fresh database holding 1,000
hourly candles (so submissions validate). The HTTP load is the API benchmark's closed loop
(its own process), without and with an `Idempotency-Key` per request (an AMQP submission
always has one, its `id`); the AMQP load is a closed loop of as many submissions in flight as HTTP
connections, each published with a confirm, answered on a reply queue. The three take turns in
rounds. Nothing consumes the jobs: once the API has relayed a turn's jobs to their queue (under a
unique prefix, deleted afterwards), they are deleted with the queue's messages, so every turn
starts from none (the API looks at every queued job once a second: a backlog left by one
turn would slow the next).
"""

import argparse
import asyncio
import contextlib
import statistics
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aiormq
import asyncpg

from bench.api.load_generator import LoadSpec, LoadSummary, run_in_child
from bench.submissions import report
from bench.submissions.amqp_load import amqp_load
from bench.support import proc_stats
from bench.support.report_files import report_path
from bench.support.seed import backtest_request, store_candles
from bench.support.service_stack import RunningApi, bench_settings, running_api
from bench.support.synthetic import random_walk
from devtools.waiting import StillWaiting, poll_until
from services.ingest.kline_store import Series
from shared.amqp import Topology
from shared.messages import RunBacktest
from shared.outbox import unpublished_count
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


TRANSPORTS = ("HTTP", "HTTP with Idempotency-Key", "AMQP")


async def run_submissions_bench(
    in_flight: int, seconds: float, rounds: int
) -> list[TransportResult]:
    """Each transport for `seconds` in all, in `rounds` turns taken in order (HTTP, HTTP with
    a key, AMQP, then again), so a neighbour's load that comes or goes weighs on all three."""
    candles = random_walk(HOURLY_BARS, minutes_per_bar=60)
    body = backtest_request(SERIES, candles)
    turns: dict[str, list[tuple[LoadSummary, dict[str, float]]]] = {t: [] for t in TRANSPORTS}
    with tempfile.TemporaryDirectory(prefix="bench-submissions-") as logs:
        async with bench_settings(BENCH_DATABASE) as settings:
            await store_candles(settings.database_url, SERIES, candles)
            async with running_api(settings, Path(logs) / "api.log") as api:
                for turn in range(rounds):
                    for transport in TRANSPORTS:
                        print(
                            f"submissions benchmark: {transport}, round {turn + 1}/{rounds},"
                            f" {seconds / rounds:g} s ...",
                            flush=True,
                        )
                        load = _load(transport, api, settings, body, in_flight, seconds / rounds)
                        turns[transport].append(await _measured(api, load))
                        await _forget_jobs(settings)
                        summary, cpu = turns[transport][-1]
                        print(
                            "  "
                            + report.one_line(TransportResult(transport, in_flight, summary, cpu)),
                            flush=True,
                        )
    return [
        TransportResult(
            t, in_flight, *_combined([s for s, _ in turns[t]], [c for _, c in turns[t]])
        )
        for t in TRANSPORTS
    ]


async def _forget_jobs(settings: Settings, within: float = 60.0) -> None:
    """Once the outbox is relayed (or `within` seconds passed), delete the jobs, their keys and
    outbox rows, and the messages queued for them."""
    conn = await asyncpg.connect(settings.database_url)
    try:
        with contextlib.suppress(StillWaiting):
            await poll_until(lambda: unpublished_count(conn), lambda n: n == 0, within=within)
        await conn.execute(
            "DELETE FROM backtests; DELETE FROM outbox; DELETE FROM idempotency_keys"
        )
    finally:
        await conn.close()
    connection = await aiormq.connect(settings.amqp_url)
    try:
        channel = await connection.channel()
        await channel.queue_purge(Topology(settings.amqp_prefix).queue_for(RunBacktest))
    finally:
        await connection.close()


def _load(
    transport: str,
    api: RunningApi,
    settings: Settings,
    body: dict[str, Any],
    in_flight: int,
    seconds: float,
) -> Any:
    if transport == "AMQP":
        return _amqp(settings, body, in_flight, seconds)
    keyed = transport == "HTTP with Idempotency-Key"
    url = f"{api.url}/api/v1/backtests"
    return run_in_child(LoadSpec("POST", url, body, in_flight, seconds, idempotency_keys=keyed))


def _combined(
    summaries: list[LoadSummary], cpu: list[dict[str, float]]
) -> tuple[LoadSummary, dict[str, float]]:
    """The rounds of one transport as one: counts summed, the rate over all the time
    measured, each latency percentile the median of the rounds' (max: the largest), CPU
    shares averaged."""
    seconds = sum(s.seconds for s in summaries)
    requests = sum(s.requests for s in summaries)
    statuses: Counter[str] = Counter()
    for s in summaries:
        statuses.update(s.statuses)
    latency = {
        q: statistics.median(s.latency_ms[q] for s in summaries) for q in ("p50", "p90", "p99")
    }
    latency["max"] = max(s.latency_ms["max"] for s in summaries)
    combined = LoadSummary(
        requests=requests,
        seconds=seconds,
        requests_per_second=requests / seconds,
        latency_ms=latency,
        statuses=dict(statuses),
        errors=sum(s.errors for s in summaries),
        cpu_seconds=sum(s.cpu_seconds for s in summaries),
        first_error=next((s.first_error for s in summaries if s.first_error), ""),
    )
    cores = {k: round(statistics.fmean(c.get(k, 0.0) for c in cpu), 2) for k in cpu[0]}
    return combined, cores


def _amqp(settings: Settings, body: dict[str, Any], in_flight: int, seconds: float) -> Any:
    topology = Topology(settings.amqp_prefix)
    return amqp_load(settings.amqp_url, topology, body, in_flight=in_flight, seconds=seconds)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--in-flight", type=int, default=32, help="requests or submissions")
    parser.add_argument("--seconds", type=float, default=12.0, help="of load per transport")
    parser.add_argument("--rounds", type=int, default=3, help="turns the seconds are split in")


def run(args: argparse.Namespace) -> int:
    results = asyncio.run(run_submissions_bench(args.in_flight, args.seconds, args.rounds))
    print(report.write(results, report_path("submissions")))
    return 0
