"""Command-line options several benchmarks share."""

import argparse
from collections.abc import Iterable


def add_scenario_option(parser: argparse.ArgumentParser, names: Iterable[str]) -> None:
    """`--scenario NAME` (repeatable) to run only some scenarios; by default all run."""
    parser.add_argument(
        "--scenario",
        choices=sorted(names),
        action="append",
        help="run only this scenario (repeatable); default: all",
    )
