"""Portfolio benchmark: a 50-symbol portfolio over a year of hourly bars (438,000
symbol-bars) in one process, after loading.

Engine time of one backtest (every symbol's sma_cross targets and `rank`, the union
timeline, the compiled loop, trades, details and metrics), slots, slots with a trailing
stop, an ATR stop loss and a time stop on every position, and a weekly rotation; then
a 100-set grid over it (10 `fast` values x 10 `max_positions`) run one set after another in
this process: sets per second; and loading every symbol's candles from PostgreSQL as the
engine does (a scratch database; `bench/loading`), candles per second. Through the API such a
grid's chunks spread over the engine workers; here it is one process.
"""

import argparse
import itertools
import os
import sys
from typing import Any

from bench.loading.measure import load_timing
from bench.portfolio import report as portfolio_report
from bench.support.report_files import report_path
from bench.support.synthetic import random_walk
from bench.support.timing import best_seconds
from domain.execution.config import BacktestConfig
from domain.execution.settings import AtrMultiple, ExecutionSettings
from domain.portfolio_backtest import PortfolioRules, SymbolSeries, run_portfolio
from services.engine.simulation_pool import POOL_ALLOCATOR_ENV

SYMBOLS = 50
BARS = 8_760  # a year of hourly bars
WARMUP = 300
RANK = "roc(close, 24)"
GRID_FAST = list(range(5, 55, 5))  # 10 values
GRID_SLOTS = list(range(1, 11))  # 10 values of max_positions


def _series(symbols: int, bars: int) -> list[SymbolSeries]:
    return [
        SymbolSeries(
            f"S{i:02d}USDT", random_walk(bars + WARMUP, minutes_per_bar=60, seed=100 + i), WARMUP
        )
        for i in range(symbols)
    ]


def _config(fast: int, **stops: Any) -> BacktestConfig:
    execution = ExecutionSettings(fee_rate=0.00055, contract="linear", funding=False, **stops)
    return BacktestConfig("sma_cross", {"fast": fast, "slow": 100}, "60", execution)


STOPS = {"trailing_stop": 0.05, "stop_loss": AtrMultiple(2.0), "max_bars_in_trade": 48}


def run_portfolio_bench(
    symbols: int = SYMBOLS, bars: int = BARS, repeats: int = 5
) -> list[dict[str, Any]]:
    series = _series(symbols, bars)
    rows = []
    for name, config, rules in (
        ("slots, K = 10", _config(10), PortfolioRules(10, RANK)),
        (
            "slots, K = 10, trailing, ATR and time stops",
            _config(10, **STOPS),
            PortfolioRules(10, RANK),
        ),
        ("weekly rotation, K = 10", _config(10), PortfolioRules(10, RANK, "W")),
    ):

        def one(config: BacktestConfig = config, rules: PortfolioRules = rules) -> None:
            run_portfolio(series, config, rules)

        one()  # numba kernels loaded or compiled
        seconds = best_seconds(one, repeats)
        rows.append(_row(name, symbols * bars, 1, seconds))

    sets = list(itertools.product(GRID_FAST, GRID_SLOTS))

    def grid() -> None:
        for fast, slots in sets:
            run_portfolio(series, _config(fast), PortfolioRules(slots, RANK))

    loading = load_timing(symbols, "60", bars, WARMUP, 5)
    rows.append(
        {
            "run": "loading every symbol's warmed candles (PostgreSQL -> numpy, one query)",
            "symbol_bars": loading.candles,
            "sets": 1,
            "seconds": round(loading.seconds, 5),
            "symbol_bars_per_second": loading.candles_per_second,
            "row_by_row_copy_seconds": round(loading.rows_seconds, 5),
        }
    )
    rows.append(
        _row(f"{len(sets)}-set grid, one process", symbols * bars, len(sets), best_seconds(grid, 1))
    )
    return rows


def _row(name: str, symbol_bars: int, sets: int, seconds: float) -> dict[str, Any]:
    return {
        "run": name,
        "symbol_bars": symbol_bars,
        "sets": sets,
        "seconds": round(seconds, 5),
        "symbol_bars_per_second": round(symbol_bars * sets / seconds),
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--symbols", type=int, default=SYMBOLS)
    parser.add_argument("--bars", type=int, default=BARS, help="hourly bars per symbol")
    parser.add_argument("--repeats", type=int, default=5, help="timed single backtests")


def run(args: argparse.Namespace) -> int:
    if any(name not in os.environ for name in POOL_ALLOCATOR_ENV):
        # Timed as the engine's pool processes run it: with their allocator settings, which
        # glibc reads only when a process starts.
        env = {**POOL_ALLOCATOR_ENV, **os.environ}
        os.execve(sys.executable, [sys.executable, "-m", "bench", *sys.argv[1:]], env)
    print(f"portfolio benchmark: {args.symbols} symbols x {args.bars:,} bars ...", flush=True)
    rows = run_portfolio_bench(args.symbols, args.bars, args.repeats)
    print(portfolio_report.write(rows, report_path("portfolio")))
    return 0
