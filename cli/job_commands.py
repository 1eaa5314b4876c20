"""Submitting jobs (backfill, backtest, optimize, rerun) and reading them (show, list, cancel).
The submitting commands' options come from the request schemas (cli/request_options.py)."""

from typing import Any

import click

from cli import tables
from cli.api_client import ApiClient
from cli.job_following import follow
from cli.output import JOB_DID_NOT_SUCCEED, fail, print_json, print_tables, show_job
from cli.request_options import STRATEGY_OPTIONS, field_options, request_body, with_options
from cli.request_schema import enum_of, request_fields
from cli.resource_kinds import COLLECTIONS, JOB_STATUSES, TERMINAL_STATUSES, locate, path_of
from cli.submission import GaveUp, new_key, submit_job

pass_api = click.make_pass_decorator(ApiClient)

WAIT = click.option("--wait", is_flag=True, help="follow the job with a progress bar until it ends")
AS_JSON = click.option("--json", "as_json", is_flag=True, help="print the resource as JSON")


IDEMPOTENCY_KEY = click.option(
    "--idempotency-key",
    help="a retry with the same key (within 24 h) answers the job the first one created "
    "(default: a new random key for each command)",
)
RETRY_FOR = click.option(
    "--retry-for",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    metavar="SECONDS",
    help="retry a submission answered 503 or not at all, with the same key, for this long",
)


SUBMISSION_OPTIONS = with_options([IDEMPOTENCY_KEY, RETRY_FOR, WAIT, AS_JSON])

BACKFILL_FIELDS = request_fields("backfill")
BACKTEST_FIELDS = request_fields("backtest")
# `kind` may be left out: the command tells it from the options given.
OPTIMIZATION_FIELDS = request_fields("optimization", computed=frozenset({"kind"}))


def _submission(given: dict[str, Any]) -> dict[str, Any]:
    """The options of how a job is submitted and shown, taken out of `given`."""
    return {key: given.pop(key) for key in ("wait", "as_json", "idempotency_key", "retry_for")}


def _submit(
    api: ApiClient, kind: str, path: str, body: dict[str, Any], submission: dict[str, Any]
) -> None:
    """POST the job (once, whatever the retries: see `submit_job`), then show it (followed to
    its end with --wait)."""
    key = submission["idempotency_key"] or new_key()

    def tell(message: str) -> None:
        click.echo(f"backtester: {message}", err=True)

    try:
        job = submit_job(api, path, body, key, retry_for=submission["retry_for"], tell=tell)
    except GaveUp as exc:
        tell(f"gave up; the {kind} may exist: run the same command with --idempotency-key {key}")
        raise exc.last from None
    if submission["wait"]:
        job = follow(api, kind, job)
    show_job(api, kind, job, submission["as_json"])


@click.command()
@with_options(field_options(BACKFILL_FIELDS))
@SUBMISSION_OPTIONS
@pass_api
def backfill(api: ApiClient, /, **given: Any) -> None:
    """Fetch candles from Bybit into the database (a backfill job).

    --include none: candles only."""
    submission = _submission(given)
    _submit(api, "backfill", "/backfills", request_body(BACKFILL_FIELDS, given, None), submission)


@click.command()
@with_options(STRATEGY_OPTIONS)
@with_options(field_options(BACKTEST_FIELDS))
@SUBMISSION_OPTIONS
@pass_api
def backtest(api: ApiClient, /, **given: Any) -> None:
    """Run a strategy over stored candles (a backtest job). Option syntax: docs/cli.md."""
    submission = _submission(given)
    body = request_body(BACKTEST_FIELDS, given, ())
    _submit(api, "backtest", "/backtests", body, submission)


@click.command()
@with_options(STRATEGY_OPTIONS)
@with_options(field_options(OPTIMIZATION_FIELDS))
@SUBMISSION_OPTIONS
@pass_api
def optimize(api: ApiClient, /, **given: Any) -> None:
    """A grid search, walk-forward or Bayesian search over a strategy's parameters.

    Without --kind: bayes when --space is given, walk_forward when a window option is, else
    grid. Option syntax: docs/cli.md."""
    submission = _submission(given)
    body = request_body(OPTIMIZATION_FIELDS, given, ("backtest",))
    if "kind" not in body:
        body["kind"] = default_kind(body)
    _submit(api, "optimization", "/optimizations", body, submission)


def default_kind(body: dict[str, Any]) -> str:
    if "param_space" in body:
        return "bayes"
    return "walk_forward" if "walk_forward" in body else "grid"


@click.command()
@click.argument("job_id", metavar="ID")
@SUBMISSION_OPTIONS
@pass_api
def rerun(api: ApiClient, /, job_id: str, **given: Any) -> None:
    """Run a succeeded backtest's stored request again, as a new backtest that says whether it
    reproduced bit for bit."""
    submission = _submission(given)
    kind, _ = locate(api, job_id)
    if kind != "backtest":
        raise click.UsageError(f"only a backtest can be rerun; {job_id} is a {kind}")
    _submit(api, "backtest", path_of("backtest", job_id) + "/rerun", {}, submission)


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
@click.option("--status", type=click.Choice(JOB_STATUSES))
@click.option("--symbol")
@click.option("--strategy", help="backtests and optimizations: by `strategy_name`")
@click.option(
    "--kind", metavar="|".join(enum_of("optimization", "kind")), help="optimizations: the kind"
)
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
