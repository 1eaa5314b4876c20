"""Strategies benchmark: `sma_cross` as an expression strategy against the built-in.

One backtest on a year of 1-minute bars (525,600): the built-in, the same rules as an
expression definition, and vectorbt, in one run. Then the 20x20 grid of `sma_cross`
parameter sets on the same bars, both ways, each through one `StrategyTargets` (the
built-in's indicator cache, the expression's shared sub-expressions) and the fill kernel:
bar-evaluations per second and their ratio.
"""

import argparse
import itertools
from collections.abc import Callable
from typing import Any

from domain.execution.config import BacktestConfig
from domain.execution.settings import ExecutionSettings

from bench.engine.run import pandas_frame, synthetic_minutes
from bench.strategies import report as strategies_report
from bench.support.report_files import report_path
from bench.support.timing import best_seconds
from bench.support.vectorbt_sma_cross import sma_cross_portfolio
from domain.backtest import contiguous_prices, run_backtest, run_kernel
from domain.market.candles import Candles
from domain.strategies import StrategyEntry, strategy_entry
from domain.strategies.definitions import definition_of
from domain.targets.strategy_targets import StrategyTargets

BARS = 525_600
FAST, SLOW = 10, 30
FEE_RATE = 0.00055
CASH = 10_000.0
GRID_FAST = list(range(5, 105, 5))  # 20 values
GRID_SLOW = list(range(110, 510, 20))  # 20 values


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
        strategy = StrategyTargets(entry, candles)
        total = 0.0
        for params in sets:
            kernel = run_kernel(prices, strategy(params, "long_only"), 0, execution)
            total += float(kernel.equity[-1])
        return total

    return run


def _row(kind: str, what: str, evaluations: int, seconds: float) -> dict[str, Any]:
    return {
        "strategy": kind,
        "run": what,
        "bar_evaluations": evaluations,
        "seconds": round(seconds, 4),
        "bar_evaluations_per_second": round(evaluations / seconds),
    }


def run_strategies_bench(bars: int = BARS, repeats: int = 3) -> list[dict[str, Any]]:
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
    for kind, entry in entries.items():
        grid = _grid(candles, entry)
        rows.append(_row(kind, f"{sets}-set grid", bars * sets, best_seconds(grid, 1)))
    return rows


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bars", type=int, default=BARS, help="1-minute bars")
    parser.add_argument("--repeats", type=int, default=3, help="timed single backtests")


def run(args: argparse.Namespace) -> int:
    print(f"strategies benchmark: {args.bars:,} bars ...", flush=True)
    rows = run_strategies_bench(args.bars, args.repeats)
    print(strategies_report.write(rows, report_path("strategies")))
    return 0
