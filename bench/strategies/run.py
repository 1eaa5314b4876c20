"""Strategies benchmark: `sma_cross` as an expression strategy against the built-in.

One backtest on a year of 1-minute bars (525,600): the built-in, the same rules as an
expression definition, and vectorbt, in one run. Then the 20x20 grid of `sma_cross`
parameter sets on the same bars, both ways, each through one `StrategyTargets` (the
built-in's indicator cache, the expression's shared sub-expressions) and the fill kernel:
bar-evaluations per second and their ratio. The same grid again for `sma_cross` filtered by
a 1-hour trend (`htf`), by ADX and by Supertrend, as expression strategies.
"""

import argparse
import itertools
import time
from collections.abc import Callable
from typing import Any

from bench.engine.run import pandas_frame, synthetic_minutes
from bench.strategies import report as strategies_report
from bench.support.report_files import report_path
from bench.support.timing import best_seconds
from bench.support.vectorbt_sma_cross import sma_cross_portfolio
from domain.backtest import contiguous_prices, run_backtest, run_kernel
from domain.execution.config import BacktestConfig
from domain.execution.settings import ExecutionSettings
from domain.market.candles import Candles
from domain.strategies import StrategyEntry, strategy_entry
from domain.strategies.definitions import definition_of, parse_definition
from domain.targets.strategy_targets import StrategyTargets

BARS = 525_600
FAST, SLOW = 10, 30
FEE_RATE = 0.00055
CASH = 10_000.0
GRID_FAST = list(range(5, 105, 5))  # 20 values
GRID_SLOW = list(range(110, 510, 20))  # 20 values


# sma_cross with a filter that is the same for every parameter set (computed once per grid).
FILTERS = {
    "expression + htf": 'htf(close > ema(close, 50), "60")',
    "expression + adx": "adx(14) > 20",
    "expression + supertrend": "supertrend(10, 3) > 0",
}


def sma_cross_definition() -> dict[str, Any]:
    """The built-in `sma_cross` as an expression definition, as a request holds it."""
    return definition_of(strategy_entry("sma_cross")).as_json()


def filtered_entries() -> dict[str, StrategyEntry]:
    """sma_cross long while its filter holds, short while it does not."""
    builtin = sma_cross_definition()
    return {
        kind: parse_definition(
            {
                "params": builtin["params"],
                "rules": builtin["rules"],
                "long_entry": f"sma(close, fast) > sma(close, slow) and {rule}",
                "short_entry": f"sma(close, fast) < sma(close, slow) and not {rule}",
            }
        ).entry(kind.replace(" + ", "_"))
        for kind, rule in FILTERS.items()
    }


def sma_cross_entries() -> dict[str, StrategyEntry]:
    builtin = strategy_entry("sma_cross")
    return {"built-in": builtin, "expression": definition_of(builtin).entry("sma_cross_expr")}


def _backtest(candles: Candles, entry: StrategyEntry) -> Callable[[], float]:
    execution = ExecutionSettings(fee_rate=FEE_RATE)
    config = BacktestConfig(entry.name, {"fast": FAST, "slow": SLOW}, "1", execution, entry)

    def run() -> float:
        return float(run_backtest(candles, config).equity[-1])

    return run


def _vectorbt(candles: Candles) -> Callable[[], float]:
    frame = pandas_frame(candles)

    def run() -> float:
        portfolio = sma_cross_portfolio(
            frame["Close"], frame["Open"], FAST, SLOW, fee_rate=FEE_RATE, cash=CASH
        )
        return float(portfolio.final_value())

    return run


def _grid(candles: Candles, entry: StrategyEntry) -> Callable[[], float]:
    prices = contiguous_prices(candles)
    execution = ExecutionSettings(fee_rate=FEE_RATE)
    sets = [{"fast": f, "slow": s} for f, s in itertools.product(GRID_FAST, GRID_SLOW)]

    def run() -> float:
        # A fresh StrategyTargets per run, as a chunk builds one: its cache counts in the time.
        strategy = StrategyTargets(entry, candles, interval="1")
        total = 0.0
        for params in sets:
            kernel = run_kernel(prices, strategy(params, "long_only"), 0, execution)
            total += float(kernel.equity[-1])
        return total

    return run


def _row(
    kind: str, what: str, evaluations: int, seconds: float, cpu_seconds: float | None = None
) -> dict[str, Any]:
    row = {
        "strategy": kind,
        "run": what,
        "bar_evaluations": evaluations,
        "seconds": round(seconds, 4),
        "bar_evaluations_per_second": round(evaluations / seconds),
    }
    if cpu_seconds is not None:
        row["cpu_seconds"] = round(cpu_seconds, 4)
    return row


def _best_wall_and_cpu(run: Callable[[], object], repeats: int) -> tuple[float, float]:
    """The shortest wall time and the shortest CPU time of this process over `repeats` runs:
    on a machine shared with other work the CPU time is what the run itself cost."""
    wall, cpu = float("inf"), float("inf")
    for _ in range(max(repeats, 1)):
        started, cpu_started = time.perf_counter(), time.process_time()
        run()
        wall = min(wall, time.perf_counter() - started)
        cpu = min(cpu, time.process_time() - cpu_started)
    return wall, cpu


def run_strategies_bench(
    bars: int = BARS, repeats: int = 3, grid_repeats: int = 2
) -> list[dict[str, Any]]:
    candles = synthetic_minutes(bars)
    rows = []
    entries = sma_cross_entries()
    for kind, entry in entries.items():
        run = _backtest(candles, entry)
        run()  # numba kernels loaded or compiled
        rows.append(_row(kind, "one backtest", bars, best_seconds(run, repeats)))
    vectorbt = _vectorbt(candles)
    vectorbt()
    rows.append(_row("vectorbt", "one backtest", bars, best_seconds(vectorbt, repeats)))
    sets = len(GRID_FAST) * len(GRID_SLOW)
    for kind, entry in {**entries, **filtered_entries()}.items():
        wall, cpu = _best_wall_and_cpu(_grid(candles, entry), grid_repeats)
        rows.append(_row(kind, f"{sets}-set grid", bars * sets, wall, cpu))
    return rows


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bars", type=int, default=BARS, help="1-minute bars")
    parser.add_argument("--repeats", type=int, default=3, help="timed single backtests")
    parser.add_argument("--grid-repeats", type=int, default=2, help="timed runs of each grid")


def run(args: argparse.Namespace) -> int:
    print(f"strategies benchmark: {args.bars:,} bars ...", flush=True)
    rows = run_strategies_bench(args.bars, args.repeats, args.grid_repeats)
    print(strategies_report.write(rows, report_path("strategies")))
    return 0
