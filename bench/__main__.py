"""`python -m bench [NAME [options]]`: run one benchmark, or all of them with their defaults."""

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass

from bench.api import run as api
from bench.bayes import run as bayes
from bench.engine import run as engine
from bench.ingest import run as ingest
from bench.jobs import run as jobs
from bench.latency import run as latency
from bench.loading import run as loading
from bench.optimization import run as optimization
from bench.portfolio import run as portfolio
from bench.robustness import run as robustness
from bench.strategies import run as strategies
from bench.submissions import run as submissions
from bench.ui import run as ui
from shared.freed_memory import keep_freed_pages


@dataclass(frozen=True)
class Benchmark:
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


BENCHMARKS = {
    "ingest": Benchmark(
        "candles per second from the simulated Bybit into PostgreSQL",
        ingest.add_arguments,
        ingest.run,
    ),
    "engine": Benchmark(
        "one sma_cross backtest on a year of 1-minute bars: ours, vectorbt, backtesting.py",
        engine.add_arguments,
        engine.run,
    ),
    "loading": Benchmark(
        "candles per second from PostgreSQL into numpy: a year of minutes, a 50-symbol portfolio",
        loading.add_arguments,
        loading.run,
    ),
    "api": Benchmark(
        "requests per second and latency of GET and POST /api/v1/backtests",
        api.add_arguments,
        api.run,
    ),
    "jobs": Benchmark(
        "backtests per second end to end through RabbitMQ with 1 and 2 engine workers",
        jobs.add_arguments,
        jobs.run,
    ),
    "latency": Benchmark(
        "a worker's cold start; one 525,600-bar backtest from POST to succeeded, in its parts",
        latency.add_arguments,
        latency.run,
    ),
    "optimization": Benchmark(
        "bar-evaluations per second of a 20x20 sma_cross grid: ours, vectorbt, 1 and 2 workers",
        optimization.add_arguments,
        optimization.run,
    ),
    "bayes": Benchmark(
        "a 200-trial Bayesian search on two workers: overhead per trial, best against the grid",
        bayes.add_arguments,
        bayes.run,
    ),
    "portfolio": Benchmark(
        "a 50-symbol portfolio over a year of hourly bars: one backtest and a 100-set grid",
        portfolio.add_arguments,
        portfolio.run,
    ),
    "robustness": Benchmark(
        "what dsr and pbo (16 blocks) cost on top of the 20x20 grid on 525,600 bars",
        robustness.add_arguments,
        robustness.run,
    ),
    "strategies": Benchmark(
        "sma_cross as an expression strategy against the built-in; grids with htf, ADX, Supertrend",
        strategies.add_arguments,
        strategies.run,
    ),
    "submissions": Benchmark(
        "jobs submitted per second over AMQP beside POST /backtests; publish-to-reply latency",
        submissions.add_arguments,
        submissions.run,
    ),
    "ui": Benchmark(
        "time to a drawn backtest page of 525,600 bars in headless Chromium; the report's size",
        ui.add_arguments,
        ui.run,
    ),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    names = parser.add_subparsers(dest="benchmark", metavar="NAME")
    for name, benchmark in BENCHMARKS.items():
        benchmark.add_arguments(names.add_parser(name, help=benchmark.help))
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    # What runs the core here (ours and the peers alike) runs with the allocator settings the
    # engine's pool processes have.
    keep_freed_pages()
    if args.benchmark is not None:
        return BENCHMARKS[args.benchmark].run(args)
    status = 0
    for name, benchmark in BENCHMARKS.items():
        status |= benchmark.run(parser.parse_args([name]))
    return status


if __name__ == "__main__":
    sys.exit(main())
