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
import asyncio
import itertools
import tempfile
from pathlib import Path
from typing import Any

from bench.loading.measure import load_timing
from bench.portfolio import report as portfolio_report
from bench.support.optimization_queue import through_the_queue
from bench.support.report_files import report_path
from bench.support.service_stack import bench_settings
from bench.support.synthetic import START_MS, random_walk
from bench.support.timing import best_seconds
from domain.execution.config import BacktestConfig
from domain.execution.settings import AtrMultiple, ExecutionSettings
from domain.portfolio_backtest import PortfolioRules, SymbolSeries, run_portfolio
from services.ingest.kline_store import Series, store
from shared.db import create_pool

SYMBOLS = 50
BARS = 8_760  # a year of hourly bars
WARMUP = 300
RANK = "roc(close, 24)"
GRID_FAST = list(range(5, 55, 5))  # 10 values
GRID_SLOTS = list(range(1, 11))  # 10 values of max_positions
HOUR_MS = 3_600_000
WORKERS = (1, 2)
BENCH_DATABASE = "backtester_bench_portfolio"


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


def _grid_request(symbols: int, bars: int) -> dict[str, Any]:
    """The same 100-set grid as a POST /optimizations body over the stored candles."""
    return {
        "kind": "grid",
        "backtest": {
            "category": "spot",
            "symbols": [f"S{i:02d}USDT" for i in range(symbols)],
            "interval": "60",
            "start": START_MS + WARMUP * HOUR_MS,
            "end": START_MS + (WARMUP + bars - 1) * HOUR_MS,
            "strategy": {"name": "sma_cross", "params": {"slow": 100}},
            "fee_rate": 0.00055,
            "warmup_bars": WARMUP,
            "portfolio": {"max_positions": 10, "rank": RANK},
        },
        "param_grid": {"fast": GRID_FAST, "max_positions": GRID_SLOTS},
        "objective": "sharpe",
    }


async def _queue_rows(symbols: int, bars: int, repeats: int) -> list[dict[str, Any]]:
    """The grid as an optimization job, its chunks spread over 1 and then 2 engine workers."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-portfolio-") as logs:
        async with bench_settings(BENCH_DATABASE) as settings:
            pool = await create_pool(settings.database_url, max_size=1)
            try:
                async with pool.acquire() as conn:
                    for one in _series(symbols, bars):
                        await store(conn, Series("spot", one.symbol, "60"), one.candles, [], [])
            finally:
                await pool.close()
            request = _grid_request(symbols, bars)
            for workers in WORKERS:
                print(f"  the grid through the queue, {workers} worker(s) ...", flush=True)
                run = await through_the_queue(settings, request, workers, repeats, Path(logs))
                sets = len(GRID_FAST) * len(GRID_SLOTS)
                row = _row(
                    f"{sets}-set grid through the queue, {workers} engine worker(s)",
                    symbols * bars,
                    sets,
                    run.seconds,
                )
                rows.append({**row, "workers": workers, "chunks": run.chunks})
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
    parser.add_argument("--repeats", type=int, default=15, help="timed single backtests")
    parser.add_argument(
        "--queue-repeats", type=int, default=2, help="grids through the queue; the best counts"
    )


def run(args: argparse.Namespace) -> int:
    print(f"portfolio benchmark: {args.symbols} symbols x {args.bars:,} bars ...", flush=True)
    rows = run_portfolio_bench(args.symbols, args.bars, args.repeats)
    rows += asyncio.run(_queue_rows(args.symbols, args.bars, args.queue_repeats))
    print(portfolio_report.write(rows, report_path("portfolio")))
    return 0
