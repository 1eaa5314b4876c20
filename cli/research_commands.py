"""Reading results across jobs and time: `compare` (backtests, or optimizations' best and
out-of-sample metrics, side by side) and `returns` (a backtest's returns per period)."""

from typing import Any

import click

from cli import tables
from cli.api_client import ApiClient, Refused
from cli.output import REFUSED, fail, print_json, print_tables
from cli.resource_kinds import locate, path_of

pass_api = click.make_pass_decorator(ApiClient)
AS_JSON = click.option("--json", "as_json", is_flag=True, help="print the API's answers as JSON")
PERIODS = ("month", "year", "week", "day")


@click.command()
@click.argument("job_ids", metavar="ID ID...", nargs=-1, required=True)
@AS_JSON
@pass_api
def compare(api: ApiClient, job_ids: tuple[str, ...], as_json: bool) -> None:
    """Backtests side by side: their setups and metrics (an optimization: its walk-forward
    out-of-sample metrics, else its best set's)."""
    if len(job_ids) < 2:
        raise click.UsageError("name at least two jobs to compare")
    located = [locate(api, job_id) for job_id in job_ids]
    if wrong := [job["id"] for kind, job in located if kind == "backfill"]:
        raise click.UsageError(f"a backfill has no metrics to compare: {', '.join(wrong)}")
    if as_json:
        print_json({"items": [job for _, job in located]})
    else:
        print_tables(tables.compare_table(located))


@click.command()
@click.argument("backtest_id", metavar="ID")
@click.option("--period", type=click.Choice(PERIODS), default="month", show_default=True)
@AS_JSON
@pass_api
def returns(api: ApiClient, backtest_id: str, period: str, as_json: bool) -> None:
    """A backtest's returns per calendar period (`GET /backtests/{id}/returns`); by month, a
    year x month table with each year's compounded total."""
    base = path_of("backtest", backtest_id)
    api.get(base)  # a 404 here is the backtest's, not the route's
    try:
        answer = api.get(base + "/returns", period=period)
    except Refused as exc:
        if exc.status != 404:
            raise
        fail(f"this API serves no period returns ({base}/returns: 404)", REFUSED)
    if as_json:
        print_json(answer)
        return
    items: list[dict[str, Any]] = answer["items"] if isinstance(answer, dict) else answer
    print_tables(tables.returns_table(period, items))
