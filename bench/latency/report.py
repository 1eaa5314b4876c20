"""The latency results as Markdown and JSON."""

import statistics
from pathlib import Path
from typing import TYPE_CHECKING

from bench.support.report_files import markdown_table, met, write_report

if TYPE_CHECKING:
    from bench.latency.result import BacktestTiming, LatencyResult

COLD_START_TARGET_SECONDS = 2.0
END_TO_END_TARGET_SECONDS = 0.5
POOL_SIDE_TARGET_RATIO = 1.5
PARTS = ("total", "post", "queued", "load", "simulate", "write", "other")
CPU = ("api_cpu", "worker_cpu", "pool_cpu")


def _parts(label: str, timing: "BacktestTiming") -> list[str]:
    seconds = [f"{getattr(timing, part):.3f}" for part in PARTS]
    return [label, *seconds, " / ".join(f"{getattr(timing, cpu):.2f}" for cpu in CPU)]


def write(result: "LatencyResult", path: Path) -> str:
    cold_rows = [
        [
            start.numba_cache,
            f"{start.ready:.2f}",
            f"{start.first.total:.3f}",
            f"{start.second.total:.3f}",
            f"≤ {COLD_START_TARGET_SECONDS:g} s: "
            + met(start.first.total <= COLD_START_TARGET_SECONDS),
        ]
        for start in result.cold_starts
    ]
    ratio = result.pool_side_cpu / result.core_cpu
    median = {
        part: statistics.median(getattr(t, part) for t in result.runs) for part in (*PARTS, *CPU)
    }
    end_to_end = [
        *(_parts(f"run {i + 1}", timing) for i, timing in enumerate(result.runs)),
        [
            "median",
            *(f"{median[part]:.3f}" for part in PARTS),
            " / ".join(f"{median[cpu]:.2f}" for cpu in CPU),
        ],
    ]
    body = [
        f"One `sma_cross` backtest over {result.bars:,} 1-minute bars"
        f" ({result.trades:,} trades on average), on one engine worker with one pool process.",
        "",
        "## Cold start",
        "",
        markdown_table(
            (
                "numba cache",
                "launch to consuming s",
                "first backtest s",
                "second backtest s",
                "target (first)",
            ),
            cold_rows,
        ),
        "",
        "- launch to consuming: `python -m services.engine` started until it consumes the"
        " backtest queue; before it takes a job, its pool process compiles the kernels (or"
        " loads them from the numba cache) running a small backtest, grid chunk and portfolio"
        " (`services/engine/pool_warm_up.py`).",
        "- backtest s: from its POST to the client reading `succeeded`, as below.",
        "",
        "## End to end",
        "",
        markdown_table(
            ("backtest", *(f"{part} s" for part in PARTS), "CPU s API / worker / pool"),
            end_to_end,
        ),
        "",
        f"Target: a median total ≤ {END_TO_END_TARGET_SECONDS:g} s on an idle machine:"
        f" {met(median['total'] <= END_TO_END_TARGET_SECONDS)} (the load average above says"
        " how idle the machine was).",
        "",
        "- total: POST sent until the client reads `succeeded` (the resource polled every 5 ms);"
        " post: the POST's 202 read; queued: `started_at - created_at` (the outbox relay,"
        " RabbitMQ, the worker's claim); load, simulate, write: the worker's `backtest stored`"
        " log line (loading the candles; the pool: the candles sent, the backtest with its"
        " metrics, trades and digests, the results back; metrics, trades and equity written in"
        " one transaction); other: the rest of total (the POST before its commit, the claim's"
        " commit, the client's polling).",
        "- CPU: seconds the API, the worker's own process (loading, writing, messages) and its"
        " pool process (the backtest) spent from the POST to `succeeded`: on a busy machine"
        " the steadier figures (the API's is mostly answering the client's polls; PostgreSQL's"
        " share cannot be told apart from other clients of the same server).",
        "",
        "## The pool's side against the core",
        "",
        markdown_table(
            ("core ms", "simulate ms", "pool side ms", "ratio", "target"),
            [
                [
                    f"{result.core_cpu * 1000:.1f}",
                    f"{result.simulate_cpu * 1000:.1f}"
                    f" ({result.simulate_cpu / result.core_cpu:.2f}x)",
                    f"{result.pool_side_cpu * 1000:.1f}",
                    f"{ratio:.2f}x",
                    f"≤ {POOL_SIDE_TARGET_RATIO:g}x: {met(ratio <= POOL_SIDE_TARGET_RATIO)}",
                ]
            ],
        ),
        "",
        "- CPU, best of a few taken in turns, in a process started as the engine starts its"
        " pool processes (spawned, with their allocator settings), on the inputs a worker loads"
        " for the next backtest: core, `run_backtest` alone (the kernel, its targets, metrics"
        " and trade details); pool side, what a pool process does for the job: the shipped"
        " arguments unpickled (the candles are views of a shared memory segment, not copies),"
        " `simulate` (the backtest, its trades as columns, the digests of its metrics and"
        " trades; the candles' digest comes with the inputs, reused while the same candles load"
        " again; the equity's is hashed only by a rerun) and its output handed back (the equity"
        " copied into the call's room, the same room call after call as the engine reuses it,"
        " the bar times left where they are, the engine's own candle times; the rest pickled"
        " for the pipe); simulate, that"
        " function alone; ratio: pool side against core.",
    ]
    return write_report(path, "Latency benchmark", body, {"result": result.as_dict()})
