"""What the latency benchmark measured, for the run and the report."""

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class BacktestTiming:
    """One backtest from its POST to the client seeing it `succeeded`, and its parts."""

    total: float  # POST sent -> the client reads `succeeded`
    post: float  # POST sent -> its 202 read
    queued: float  # created_at -> started_at: the outbox relay, RabbitMQ, the worker's claim
    load: float  # the worker loading the candles (its "backtest stored" log line)
    simulate: float  # the pool: the candles sent, the backtest, the results back
    write: float  # metrics, trades and equity written in one transaction
    other: float  # the rest of `total`: the POST before its commit, the claim, the polling
    # CPU seconds spent meanwhile by the API, the worker's own process and its pool process.
    api_cpu: float
    worker_cpu: float
    pool_cpu: float


@dataclass(frozen=True)
class ColdStart:
    """A worker launched (`python -m services.engine`) and its first backtests."""

    numba_cache: str  # "empty" (the first start on a machine) or "on disk"
    ready: float  # launch -> the worker consumes (its pool process started and warmed)
    first: BacktestTiming  # the first backtest after it is ready
    second: BacktestTiming


@dataclass(frozen=True)
class LatencyResult:
    bars: int
    trades: int
    cold_starts: list[ColdStart]
    runs: list[BacktestTiming]  # one at a time on a warm worker
    core_cpu: float  # seconds of run_backtest alone (bench/latency/pool_side.py)
    simulate_cpu: float  # seconds of `simulate`: the backtest with its trades and digests
    pool_side_cpu: float  # seconds of a pool process's part of the job

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
