"""`make demo`: the whole platform on this machine, from nothing to a backtest result.

Starts the simulated Bybit, the API, the ingest and two engine workers; backfills a year of
hourly BTCUSDT candles through the API; runs a backtest and a small grid optimization through
the API; prints their results, writes the equity curve as a PNG, and stops what it started.
The data stays in the database.
"""

import argparse
import asyncio
import signal
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from devtools import launcher
from devtools.api_client import ApiClient, ApiError
from devtools.launcher import free_port
from devtools.local_stack import api_url, wait_until_ready
from devtools.preflight import NotReachable, check_servers
from devtools.report import equity_chart, metrics_table, results_table
from devtools.stack import platform_processes
from domain.market.intervals import DAY_MS, floor_open_time, iso_utc
from shared.migrate import migrate
from shared.settings import Settings

console = Console()
HOUR_MS = 3_600_000
SERIES = {"category": "linear", "symbol": "BTCUSDT", "interval": "60"}


@contextmanager
def demo_processes(settings: Settings, sim_port: int) -> Iterator[None]:
    specs = platform_processes(
        settings, engines=2, offline=True, sim_port=sim_port, name_prefix="demo-"
    )
    try:
        for spec in specs:
            launcher.start(spec)
            console.print(f"started {spec.name}, log {launcher.log_file(spec.name)}")
        yield
    finally:
        for spec in reversed(specs):
            launcher.stop(spec.name)
        console.print("stopped every process the demo started; the data stays in the database")


async def backfill(api: ApiClient, start_ms: int, end_ms: int) -> None:
    job = await api.post(
        "/backfills", {**SERIES, "start": iso_utc(start_ms), "end": iso_utc(end_ms)}
    )
    columns = (TextColumn("backfill"), BarColumn(), TextColumn("{task.fields[rows]} candles"))
    with Progress(*columns, TimeElapsedColumn(), console=console) as progress:
        task = progress.add_task("backfill", total=1.0, rows=0)
        done = await api.follow(
            f"/backfills/{job['id']}",
            lambda j: progress.update(task, completed=j["progress"], rows=j["rows"]),
        )
    if done["status"] != "succeeded":
        raise ApiError(f"backfill {done['status']}: {done['error']}")


async def backtest(api: ApiClient, start_ms: int, end_ms: int, out: Path) -> None:
    request = {
        **SERIES,
        "start": iso_utc(start_ms),
        "end": iso_utc(end_ms),
        "strategy": {"name": "sma_cross", "params": {"fast": 10, "slow": 30}},
        "initial_capital": 10_000,
    }
    job = await api.post("/backtests", request)
    done = await api.follow(f"/backtests/{job['id']}")
    if done["status"] != "succeeded":
        raise ApiError(f"backtest {done['status']}: {done['error']}")
    console.print(metrics_table("backtest: sma_cross 10/30 on BTCUSDT 1h", done["metrics"]))
    equity = await api.get(f"/backtests/{job['id']}/equity", points=2000)
    chart = equity_chart(equity["items"], "sma_cross 10/30 on BTCUSDT 1h (simulated Bybit)", out)
    console.print(f"equity curve written to {chart}")


async def optimize(api: ApiClient, start_ms: int, end_ms: int) -> None:
    request: dict[str, Any] = {
        "kind": "grid",
        "backtest": {
            **SERIES,
            "start": iso_utc(start_ms),
            "end": iso_utc(end_ms),
            "strategy": {"name": "sma_cross"},
        },
        "param_grid": {"fast": [5, 10, 20, 40], "slow": [30, 50, 100, 200]},
        "objective": "sharpe",
    }
    job = await api.post("/optimizations", request)
    with Progress(
        TextColumn("grid search"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        console=console,
    ) as progress:
        task = progress.add_task("grid", total=job["progress"]["total"])
        done = await api.follow(
            f"/optimizations/{job['id']}",
            lambda j: progress.update(task, completed=j["progress"]["done"]),
        )
    if done["status"] != "succeeded":
        raise ApiError(f"optimization {done['status']}: {done['error']}")
    rows = await api.get(f"/optimizations/{job['id']}/results", order_by="sharpe", limit=5)
    console.print(
        results_table(
            f"grid search: top 5 of {rows['total']} by sharpe ({done['skipped']} skipped)",
            rows["items"],
            "sharpe",
        )
    )
    best = done["best"]
    params = ", ".join(f"{k}={v}" for k, v in best["params"].items())
    console.print(metrics_table(f"best parameters: {params}", best["metrics"]))


async def run_demo(settings: Settings, out_dir: Path) -> int:
    await check_servers(settings)
    await migrate(settings.database_url)
    if not await _port_free(settings.api_port):
        settings = settings.model_copy(update={"api_port": free_port()})
    end_ms = floor_open_time(int(time.time() * 1000), "60") - HOUR_MS
    start_ms = end_ms - 365 * DAY_MS
    with demo_processes(settings, sim_port=free_port()):
        ready, why = await wait_until_ready(settings)
        if not ready:
            raise ApiError(f"the API did not become ready: {why}")
        async with aiohttp.ClientSession() as session:
            api = ApiClient(session, api_url(settings))
            await backfill(api, start_ms, end_ms)
            await backtest(api, start_ms, end_ms, out_dir / "equity.png")
            await optimize(api, start_ms, end_ms)
    return 0


async def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m devtools.demo", description=__doc__)
    parser.add_argument(
        "--out", type=Path, default=Path("demo-output"), help="where the chart goes"
    )
    args = parser.parse_args()
    # A SIGTERM stops the demo like Ctrl-C does: through its clean-up, stopping what it started.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        code = asyncio.run(run_demo(Settings(), args.out))
    except (NotReachable, ApiError) as exc:
        console.print(f"[red]{exc}[/red]")
        code = 2
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)


if __name__ == "__main__":
    main()
