"""Submitting jobs (backfill, backtest, optimize) and reading them (show, list, cancel)."""

from typing import Any

import click

from cli import option_values, tables
from cli.api_client import ApiClient
from cli.job_following import follow
from cli.output import JOB_DID_NOT_SUCCEED, fail, print_json, print_tables, show_job
from cli.request_options import (
    EXECUTION_OPTIONS,
    SERIES_OPTIONS,
    backtest_request,
    series_fields,
    with_options,
)
from cli.resource_kinds import COLLECTIONS, TERMINAL_STATUSES, locate, path_of

pass_api = click.make_pass_decorator(ApiClient)

WAIT = click.option("--wait", is_flag=True, help="follow the job with a progress bar until it ends")
AS_JSON = click.option("--json", "as_json", is_flag=True, help="print the resource as JSON")


IDEMPOTENCY_KEY = click.option(
    "--idempotency-key",
    help="a retry with the same key (within 24 h) answers the job the first one created",
)


SUBMISSION_OPTIONS = with_options([IDEMPOTENCY_KEY, WAIT, AS_JSON])


def _submission(given: dict[str, Any]) -> dict[str, Any]:
    """The options of how a job is submitted and shown, taken out of `given`."""
    return {key: given.pop(key) for key in ("wait", "as_json", "idempotency_key")}


def _submit(api: ApiClient, kind: str, body: dict[str, Any], submission: dict[str, Any]) -> None:
    """POST the job, then show it (followed to its end with --wait)."""
    key = submission["idempotency_key"]
    headers = {"Idempotency-Key": key} if key is not None else {}
    job = api.post(f"/{COLLECTIONS[kind]}", body, headers)
    if submission["wait"]:
        job = follow(api, kind, job)
    show_job(api, kind, job, submission["as_json"])


@click.command()
@with_options(SERIES_OPTIONS)
@click.option(
    "--include",
    multiple=True,
    type=click.Choice(["mark_price", "funding", "none"]),
    help="what else a linear or inverse backfill fetches (repeatable; none: candles only)",
)
@SUBMISSION_OPTIONS
@pass_api
def backfill(api: ApiClient, /, include: tuple[str, ...], **given: Any) -> None:
    """Fetch candles from Bybit into the database (a backfill job)."""
    submission = _submission(given)
    body = series_fields(given)
    if include:
        body["include"] = [item for item in include if item != "none"]
    _submit(api, "backfill", body, submission)


@click.command()
@with_options(SERIES_OPTIONS)
@with_options(EXECUTION_OPTIONS)
@SUBMISSION_OPTIONS
@pass_api
def backtest(api: ApiClient, /, **given: Any) -> None:
    """Run a strategy over stored candles (a backtest job)."""
    submission = _submission(given)
    _submit(api, "backtest", backtest_request(given), submission)


@click.command()
@click.option(
    "--kind",
    type=click.Choice(["grid", "walk_forward", "bayes"]),
    help="default: bayes when --space is given, else walk_forward when a window option is"
    " given, else grid (bayes with window options searches each window)",
)
@with_options(SERIES_OPTIONS)
@with_options(EXECUTION_OPTIONS)
@click.option(
    "--grid",
    "grid",
    multiple=True,
    metavar="NAME=V1,V2,...|NAME=START:STOP:STEP",
    help="grid: the values a parameter (or an exit, or position_size) takes (repeatable)",
)
@click.option(
    "--space",
    "space",
    multiple=True,
    metavar="NAME=LOW:HIGH[:STEP|:log]|NAME=V1,V2,...",
    help="bayes: the range (or the values) a parameter is sampled from (repeatable)",
)
@click.option("--trials", type=int, help="bayes: trials to evaluate (10..100000)")
@click.option("--batch", type=int, help="bayes: trials asked before any is told (default 16)")
@click.option("--sampler", type=click.Choice(["tpe", "random", "cmaes"]), help="bayes: default tpe")
@click.option("--seed", type=int, help="bayes: the sampler's seed (default 0)")
@click.option("--objective", help="the metric to rank by (the API's default: sharpe)")
@click.option("--train-bars", type=int, help="walk-forward: bars of each train window")
@click.option("--test-bars", type=int, help="walk-forward: bars of each test window")
@click.option("--anchored/--rolling", default=None, help="walk-forward: train from the start")
@SUBMISSION_OPTIONS
@pass_api
def optimize(api: ApiClient, /, **given: Any) -> None:
    """A grid search, a walk-forward optimization or a Bayesian search over a strategy's
    parameters."""
    submission = _submission(given)
    kind = given.pop("kind")
    body: dict[str, Any] = {}
    grid, space = given.pop("grid"), given.pop("space")
    if grid:
        body["param_grid"] = dict(option_values.grid_entry(text) for text in grid)
    if space:
        body["param_space"] = dict(option_values.space_entry(text) for text in space)
    search = {
        name: value
        for name in ("trials", "batch", "sampler", "seed")
        if (value := given.pop(name)) is not None
    }
    if search:
        body["search"] = search
    if not grid and not space:
        raise click.UsageError("give --grid (a grid or walk-forward) or --space (bayes)")
    objective = given.pop("objective")
    if objective is not None:
        body["objective"] = objective
    windows = {
        name: value
        for name in ("train_bars", "test_bars", "anchored")
        if (value := given.pop(name)) is not None
    }
    if windows:
        body["walk_forward"] = windows
    body["kind"] = kind or ("bayes" if space else "walk_forward" if windows else "grid")
    body["backtest"] = backtest_request(given)
    _submit(api, "optimization", body, submission)


JOB_ID = click.argument("job_id", metavar="ID")


@click.command()
@JOB_ID
@WAIT
@AS_JSON
@pass_api
def show(api: ApiClient, job_id: str, wait: bool, as_json: bool) -> None:
    """A backtest, optimization or backfill by its id (tables: metrics, trades, top rows)."""
    kind, job = locate(api, job_id)
    if wait:
        job = follow(api, kind, job)
    show_job(api, kind, job, as_json)


@click.command("list")
@click.argument("what", type=click.Choice(list(COLLECTIONS.values())), default="backtests")
@click.option("--status", type=click.Choice(["queued", "running", *TERMINAL_STATUSES]))
@click.option("--symbol")
@click.option("--strategy", help="backtests and optimizations: by strategy name")
@click.option("--kind", type=click.Choice(["grid", "walk_forward"]), help="optimizations")
@click.option("--order-by", help="backtests: a metric, best first")
@click.option("--limit", type=int)
@click.option("--offset", type=int)
@AS_JSON
@pass_api
def list_jobs(api: ApiClient, /, what: str, as_json: bool, **query: Any) -> None:
    """Jobs, newest first: backtests (the default), optimizations or backfills."""
    page = api.get(f"/{what}", **query)
    if as_json:
        print_json(page)
        return
    kind = next(k for k, collection in COLLECTIONS.items() if collection == what)
    print_tables(tables.jobs_table(kind, page["items"], page["total"]))


@click.command()
@JOB_ID
@AS_JSON
@pass_api
def cancel(api: ApiClient, job_id: str, as_json: bool) -> None:
    """Cancel a queued or running job (a finished one is left as it is)."""
    kind, job = locate(api, job_id)
    if job["status"] in TERMINAL_STATUSES:
        fail(f"{kind} {job_id} is already {job['status']}; nothing to cancel", JOB_DID_NOT_SUCCEED)
    cancelled = api.delete(path_of(kind, job_id))
    if cancelled is None:  # it finished in between, and DELETE removed it
        fail(f"{kind} {job_id} ended before the cancel and was deleted", JOB_DID_NOT_SUCCEED)
    if as_json:
        print_json(cancelled)
    else:
        click.echo(f"{kind} {job_id} {cancelled['status']}")
