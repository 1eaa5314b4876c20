"""A closed-loop HTTP load generator: `python -m bench.api.load_generator '<LoadSpec JSON>'`.

It runs in a process of its own so it does not share a core's time with the benchmark's own
bookkeeping: each of `connections` keep-alive connections sends its next request as soon as the
answer to the previous one is read. Latencies of the first `warmup_seconds` are left out. The
summary goes to stdout as one JSON object.
"""

import asyncio
import json
import sys
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import aiohttp

from devtools.launcher import run_module


@dataclass(frozen=True)
class LoadSpec:
    method: str
    url: str
    body: dict[str, Any] | None = None
    connections: int = 32
    seconds: float = 10.0
    warmup_seconds: float = 1.0
    # Each request with an `Idempotency-Key` of its own (as a client that retries sends it).
    idempotency_keys: bool = False


@dataclass
class LoadSummary:
    requests: int
    seconds: float
    requests_per_second: float
    latency_ms: dict[str, float]
    statuses: dict[str, int]
    errors: int
    cpu_seconds: float  # of the generator itself
    first_error: str = ""


@dataclass
class _Tally:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    errors: int = 0
    first_error: str = ""


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list (0 if empty)."""
    if not sorted_values:
        return 0.0
    rank = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[rank]


async def _connection(
    session: aiohttp.ClientSession, spec: LoadSpec, body: bytes | None, window: tuple[float, float]
) -> _Tally:
    measure_from, stop_at = window
    tally = _Tally()
    headers = {"Content-Type": "application/json"} if body is not None else {}
    while (started := time.perf_counter()) < stop_at:
        if spec.idempotency_keys:
            headers["Idempotency-Key"] = uuid.uuid4().hex
        try:
            async with session.request(spec.method, spec.url, data=body, headers=headers) as resp:
                await resp.read()
                status = str(resp.status)
        except (aiohttp.ClientError, OSError) as exc:
            tally.errors += 1
            tally.first_error = tally.first_error or f"{type(exc).__name__}: {exc}"
            continue
        if started >= measure_from:
            tally.latencies.append(time.perf_counter() - started)
            tally.statuses[status] += 1
    return tally


async def generate(spec: LoadSpec) -> LoadSummary:
    body = json.dumps(spec.body).encode() if spec.body is not None else None
    connector = aiohttp.TCPConnector(limit=spec.connections)
    cpu_started = time.process_time()
    async with aiohttp.ClientSession(connector=connector) as session:
        begin = time.perf_counter()
        window = (begin + spec.warmup_seconds, begin + spec.warmup_seconds + spec.seconds)
        tallies = await asyncio.gather(
            *(_connection(session, spec, body, window) for _ in range(spec.connections))
        )
        measured = time.perf_counter() - window[0]
    latencies = sorted(x for t in tallies for x in t.latencies)
    statuses: Counter[str] = Counter()
    for t in tallies:
        statuses.update(t.statuses)
    return LoadSummary(
        requests=len(latencies),
        seconds=round(measured, 3),
        requests_per_second=round(len(latencies) / measured, 1),
        latency_ms={
            name: round(percentile(latencies, q) * 1000, 2)
            for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("max", 1.0))
        },
        statuses=dict(statuses),
        errors=sum(t.errors for t in tallies),
        cpu_seconds=round(time.process_time() - cpu_started, 2),
        first_error=next((t.first_error for t in tallies if t.first_error), ""),
    )


async def run_in_child(spec: LoadSpec) -> LoadSummary:
    """Generate the load from `python -m bench.api.load_generator` and return its summary."""
    code, out = await run_module(
        "bench.api.load_generator",
        json.dumps(asdict(spec)),
        within=spec.warmup_seconds + spec.seconds + 120,
        with_stderr=False,  # on the console, where a failure's traceback is read
    )
    if code != 0:
        raise RuntimeError(f"load generator failed ({code}), its errors above: {out[-2000:]}")
    return LoadSummary(**json.loads(out))


def main(argv: list[str]) -> int:
    spec = LoadSpec(**json.loads(argv[0]))
    summary = asyncio.run(generate(spec))
    print(json.dumps(asdict(summary)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
