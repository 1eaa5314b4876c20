"""`--wait`: reading a job until it settles, with a progress bar on stderr (a backfill's
fraction, an optimization's sets done, a spinner for a backtest), so stdout stays the result."""

import sys
import time
from typing import Any

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

from cli.api_client import ApiClient
from cli.resource_kinds import TERMINAL_STATUSES, path_of

INTERRUPTED = 130  # as a shell reports a command stopped by Ctrl-C


def follow(api: ApiClient, kind: str, job: dict[str, Any], every: float = 0.5) -> dict[str, Any]:
    """The job as last read, once its status is terminal."""
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
    )
    try:
        if not sys.stderr.isatty():  # no bar to show it: say what is followed
            click.echo(f"following {kind} {job['id']} until it ends", err=True)
        with Progress(*columns, console=Console(stderr=True)) as progress:
            task = progress.add_task(kind, total=None)
            while True:
                _show(progress, task, kind, job)
                if job["status"] in TERMINAL_STATUSES:
                    return job
                time.sleep(every)
                job = api.get(path_of(kind, job["id"]))
    except KeyboardInterrupt:
        click.echo(
            f"backtester: stopped following {kind} {job['id']}, which goes on "
            f"(backtester show {job['id']} --wait; backtester cancel {job['id']})",
            err=True,
        )
        raise click.exceptions.Exit(INTERRUPTED) from None


def _show(progress: Progress, task: TaskID, kind: str, job: dict[str, Any]) -> None:
    done, total = _done_of_total(kind, job)
    progress.update(task, description=f"{kind} {job['id'][:8]} {job['status']}")
    if total is not None:
        progress.update(task, completed=done, total=total)


def _done_of_total(kind: str, job: dict[str, Any]) -> tuple[float, float | None]:
    progress = job.get("progress")
    if kind == "backfill" and isinstance(progress, int | float):
        return 100 * progress, 100
    if kind == "optimization" and isinstance(progress, dict) and progress.get("total"):
        return progress["done"], progress["total"]
    return 0, None
