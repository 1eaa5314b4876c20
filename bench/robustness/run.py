"""Robustness benchmark: what `robustness` costs on top of the optimization benchmark's grid
(20x20 sma_cross sets on a year of 1-minute bars, 525,600), in one process.

Three numbers: the grid itself (evaluate_sets over the 400 sets, which now also gathers each
set's moments and block sums); the gathering alone (the compiled moment and block-sum passes
over 400 return series of that length, the part of the grid's time that robustness adds); and
the combining when the last chunk is recorded (the per-chunk statistics stacked, the deflated
Sharpe ratio and the PBO over C(16, 8) = 12,870 combinations), with its peak memory as
tracemalloc sees it and the bytes stored per set.
"""

import argparse
import math
import time
import tracemalloc
from typing import Any

import numpy as np

from bench.optimization.run import SETS, _request
from bench.robustness import report as robustness_report
from bench.support.report_files import report_path
from bench.support.synthetic import random_walk
from bench.support.timing import best_seconds
from domain.research.lane_order import block_sums
from domain.research.robustness import SetStatistics, robustness
from domain.research.sharpe_inference import ReturnMoments
from services.engine.optimization.in_pool import evaluate_sets, set_statistics
from services.engine.optimization.parsed_request import parse_optimization

BARS = 525_600
BLOCKS = 16
CHUNKS = 8  # the statistics arrive in this many parts, as from the planner's chunks


def _say(text: str) -> None:
    print(f"robustness benchmark: {text}", flush=True)


def run_robustness_bench(bars: int = BARS, repeats: int = 3) -> dict[str, Any]:
    candles = random_walk(bars)
    parsed = parse_optimization({**_request(bars), "robustness_blocks": BLOCKS})[1]
    evaluate_sets(candles, parsed, SETS[:2], 0)  # compile first
    _say(f"the grid: {len(SETS)} sets x {bars:,} bars")
    started = time.perf_counter()
    results = evaluate_sets(candles, parsed, SETS, 0)
    grid_seconds = time.perf_counter() - started

    returns = np.random.default_rng(1).normal(0.0, 1e-3, (len(SETS), bars))
    ReturnMoments.of(returns[0])
    block_sums(returns[0], BLOCKS)

    def gather() -> None:
        for row in returns:
            ReturnMoments.of(row)
            block_sums(row, BLOCKS)

    gather_seconds = best_seconds(gather, repeats)

    size = math.ceil(len(results) / CHUNKS)
    parts = [
        SetStatistics.from_bytes(set_statistics(results[i : i + size], bars, BLOCKS).to_bytes())
        for i in range(0, len(results), size)
    ]
    stored = sum(len(p.to_bytes()) for p in parts)
    best = max(results, key=lambda r: r.metrics["sharpe"] or -math.inf).index
    figures = robustness(parts, best)
    combine_seconds = best_seconds(lambda: robustness(parts, best), repeats)
    tracemalloc.start()
    robustness(parts, best)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "parameter_sets": len(SETS),
        "bars": bars,
        "blocks": BLOCKS,
        "combinations": math.comb(BLOCKS, BLOCKS // 2),
        "grid_seconds": round(grid_seconds, 3),
        "gather_seconds": round(gather_seconds, 3),
        "combine_seconds": round(combine_seconds, 3),
        "combine_peak_bytes": peak,
        "stored_bytes": stored,
        "stored_bytes_per_set": round(stored / len(SETS), 1),
        "return_matrix_bytes": len(SETS) * bars * 8,
        "robustness": figures,
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bars", type=int, default=BARS, help="1-minute bars per backtest")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs; the best counts")


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    result = run_robustness_bench(args.bars, args.repeats)
    print(robustness_report.write(result, report_path("robustness")))
    _say(f"{time.monotonic() - started:.0f} s in all")
    return 0
