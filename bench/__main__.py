"""`python -m bench [NAME [options]]`: run one benchmark, or all of them with their defaults."""

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass

from bench import ingest


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
    if args.benchmark is not None:
        return BENCHMARKS[args.benchmark].run(args)
    status = 0
    for name, benchmark in BENCHMARKS.items():
        status |= benchmark.run(parser.parse_args([name]))
    return status


if __name__ == "__main__":
    sys.exit(main())
