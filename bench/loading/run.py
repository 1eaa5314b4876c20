"""Loading benchmark: candles from PostgreSQL into numpy as the engine loads them, against the
row-by-row COPY they replaced: a year of 1-minute candles of one symbol (issue 27: ready in
<= 0.3 s), and a portfolio's 50 symbols over a year of hours (issue 24); >= 2 M candles/s per
worker for both; and what keeping the packed blocks costs the writes."""

import argparse

from bench.loading import report as loading_report
from bench.loading.measure import load_timing
from bench.loading.writing import write_timing
from bench.support.report_files import report_path

MINUTE_BARS = 525_600
PORTFOLIO_SYMBOLS = 50
HOURLY_BARS = 8_760
WARMUP = 300
STORED_BARS = 200_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--minute-bars", type=int, default=MINUTE_BARS)
    parser.add_argument("--symbols", type=int, default=PORTFOLIO_SYMBOLS)
    parser.add_argument("--hourly-bars", type=int, default=HOURLY_BARS)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each loader")
    parser.add_argument("--stored-bars", type=int, default=STORED_BARS, help="for the write cost")


def run(args: argparse.Namespace) -> int:
    print(f"loading benchmark: 1 x {args.minute_bars:,} minutes ...", flush=True)
    minutes = load_timing(1, "1", args.minute_bars, WARMUP, args.repeats)
    print(f"loading benchmark: {args.symbols} x {args.hourly_bars:,} hours ...", flush=True)
    portfolio = load_timing(args.symbols, "60", args.hourly_bars, WARMUP, args.repeats)
    print(f"loading benchmark: storing {args.stored_bars:,} minutes ...", flush=True)
    writes = write_timing(args.stored_bars, 2)
    print(loading_report.write(minutes, portfolio, writes, report_path("loading")))
    return 0
