"""What a command prints: the resource as JSON or as tables on stdout, messages on stderr,
and the exit status of a job that did not succeed."""

import json
import sys
from typing import Any

import click
from rich.console import Console, RenderableType

from cli import tables
from cli.api_client import ApiClient
from cli.resource_kinds import path_of

# Exit statuses besides 0 and click's 2 for bad usage.
JOB_DID_NOT_SUCCEED = 1
REFUSED = 3
UNREACHABLE = 4

TRADE_ROWS = 20
RESULT_ROWS = 10


def stdout_console() -> Console:
    # Piped output keeps whole rows rather than the 80 columns of no terminal.
    return Console() if sys.stdout.isatty() else Console(width=200)


def print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2))


def print_tables(*renderables: RenderableType) -> None:
    console = stdout_console()
    for renderable in renderables:
        console.print(renderable)


def fail(message: str, status: int) -> None:
    click.echo(f"backtester: {message}", err=True)
    raise click.exceptions.Exit(status)


def show_job(api: ApiClient, kind: str, job: dict[str, Any], as_json: bool) -> None:
    """Print a job; a failed or cancelled one exits non-zero with its reason."""
    if as_json:
        print_json(job)
    elif kind == "backfill":
        print_tables(tables.backfill_summary(job))
    elif kind == "backtest":
        print_tables(*_backtest_tables(api, job))
    else:
        print_tables(*_optimization_tables(api, job))
    if job["status"] in ("failed", "cancelled"):
        reason = f": {job['error']}" if job.get("error") else ""
        fail(f"{kind} {job['id']} {job['status']}{reason}", JOB_DID_NOT_SUCCEED)


def _backtest_tables(api: ApiClient, job: dict[str, Any]) -> list[RenderableType]:
    shown: list[RenderableType] = [tables.backtest_summary(job)]
    if job["status"] == "succeeded":
        shown.append(tables.metrics_table(job.get("metrics") or {}))
        if job.get("per_symbol"):
            shown.append(tables.per_symbol_table(job["per_symbol"]))
        if job.get("monte_carlo"):
            shown.append(tables.monte_carlo_table(job["monte_carlo"]))
        trades = api.get(path_of("backtest", job["id"]) + "/trades", limit=TRADE_ROWS)
        shown.append(tables.trades_table(trades["items"], trades["total"]))
    return shown


def _optimization_tables(api: ApiClient, job: dict[str, Any]) -> list[RenderableType]:
    shown: list[RenderableType] = [tables.optimization_summary(job)]
    if job["status"] == "succeeded":
        objective = job["request"].get("objective") or "sharpe"
        # A grid's (or search's) best rows by the objective; walk-forward windows in time order.
        order_by = "window" if job["kind"] == "walk_forward" else objective
        results = api.get(
            path_of("optimization", job["id"]) + "/results", order_by=order_by, limit=RESULT_ROWS
        )
        shown.append(tables.results_table(results["items"], objective, results["total"]))
        best = job.get("best") or {}
        if job.get("walk_forward"):
            shown.append(tables.out_of_sample_table(job["walk_forward"]))
        elif best.get("metrics"):
            shown.append(tables.metrics_table(best["metrics"], "best set's metrics"))
        if job.get("robustness"):
            shown.append(tables.robustness_table(job["robustness"]))
    return shown
