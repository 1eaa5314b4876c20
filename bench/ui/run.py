"""UI benchmark: time to a drawn backtest page for a year of 1-minute bars (525,600) in
headless Chromium, and the size of that backtest's report.

The API and one engine worker run as processes of their own against a fresh database holding
the candles; one sma_cross backtest runs over all of them. Then Debian's Chromium (through
playwright) opens `/backtests/{id}` in a fresh page each time and the clock stops when the
candles, the equity curve and the drawdown are drawn and the trade table is filled: best and
median of a few loads. The report is fetched once and its bytes counted.
"""

import argparse
import asyncio
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import aiohttp
from playwright.async_api import Browser, async_playwright

from bench.jobs.progress import submit, wait_settled
from bench.support.report_files import report_path
from bench.support.seed import backtest_request, store_candles
from bench.support.service_stack import (
    bench_settings,
    running_api,
    running_engines,
)
from bench.support.synthetic import random_walk
from bench.ui import report as ui_report
from services.ingest.kline_store import Series

BENCH_DATABASE = "backtester_bench_ui"
SERIES = Series("linear", "BTCUSDT", "1")
BARS = 525_600
CHROMIUM = "/usr/bin/chromium"
DRAWN = "#candles canvas, #equity canvas, #drawdown canvas, #bt-body table tbody tr"


@dataclass(frozen=True)
class UiResult:
    bars: int
    trades: int
    loads: int
    best_seconds: float
    median_seconds: float
    report_bytes: int
    report_seconds: float

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


async def _time_page(browser: Browser, url: str) -> float:
    page = await browser.new_page(viewport={"width": 1300, "height": 900})
    started = time.perf_counter()
    await page.goto(url)
    for selector in DRAWN.split(", "):
        await page.wait_for_selector(selector, timeout=60_000)
    seconds = time.perf_counter() - started
    await page.close()
    return seconds


async def run_ui_bench(bars: int, loads: int) -> UiResult:
    candles = random_walk(bars)
    with tempfile.TemporaryDirectory(prefix="bench-ui-") as logs:
        async with bench_settings(BENCH_DATABASE) as settings:
            await store_candles(settings.database_url, SERIES, candles)
            async with (
                running_api(settings, Path(logs) / "api.log") as api,
                running_engines(settings, 1, Path(logs), within=60),
            ):
                (backtest_id,) = await submit(api.url, [backtest_request(SERIES, candles)])
                progress = await wait_settled(settings.database_url, [backtest_id], within=300)
                if progress.failed:
                    raise RuntimeError(f"the backtest failed: {progress.first_error}")
                async with aiohttp.ClientSession() as http:
                    base = f"{api.url}/api/v1/backtests/{backtest_id}"
                    async with http.get(f"{base}/trades?limit=1") as resp:
                        trades = (await resp.json())["total"]
                    started = time.perf_counter()
                    async with http.get(f"{base}/report") as resp:
                        report = await resp.read()
                    report_seconds = time.perf_counter() - started
                async with async_playwright() as playwright:
                    browser = await playwright.chromium.launch(executable_path=CHROMIUM)
                    url = f"{api.url}/backtests/{backtest_id}"
                    times = [await _time_page(browser, url) for _ in range(loads)]
                    await browser.close()
    return UiResult(
        bars=bars,
        trades=trades,
        loads=loads,
        best_seconds=round(min(times), 3),
        median_seconds=round(statistics.median(times), 3),
        report_bytes=len(report),
        report_seconds=round(report_seconds, 3),
    )


# --- command line --------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bars", type=int, default=BARS, help="1-minute candles")
    parser.add_argument("--loads", type=int, default=5, help="page loads timed")


def run(args: argparse.Namespace) -> int:
    result = asyncio.run(run_ui_bench(args.bars, args.loads))
    print(ui_report.write(result, report_path("ui")))
    return 0
