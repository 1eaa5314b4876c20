"""`backtester export`: a job's resource as JSON, a backtest's trades and equity curve and an
optimization's result rows as CSV, a backtest's HTML report; `-` writes to stdout."""

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from cli.api_client import ApiClient, Refused
from cli.output import REFUSED, fail
from cli.resource_kinds import locate, path_of

pass_api = click.make_pass_decorator(ApiClient)
PAGE = 1000
OUT = click.Path(dir_okay=False, allow_dash=True, path_type=Path)


@click.command()
@click.argument("job_id", metavar="ID")
@click.option("--json", "json_path", type=OUT, help="the resource, as JSON")
@click.option("--trades", "trades_path", type=OUT, help="a backtest's trades, as CSV")
@click.option("--equity", "equity_path", type=OUT, help="a backtest's equity curve, as CSV")
@click.option("--points", type=int, help="downsample the equity curve to at most N points")
@click.option("--results", "results_path", type=OUT, help="an optimization's rows, as CSV")
@click.option("--report", "report_path", type=OUT, help="a backtest's HTML report")
@pass_api
def export(
    api: ApiClient,
    job_id: str,
    json_path: Path | None,
    trades_path: Path | None,
    equity_path: Path | None,
    points: int | None,
    results_path: Path | None,
    report_path: Path | None,
) -> None:
    """Write a job's data to files (or stdout with `-`)."""
    wanted = (json_path, trades_path, equity_path, results_path, report_path)
    if all(path is None for path in wanted):
        raise click.UsageError(
            "name at least one of --json, --trades, --equity, --results, --report"
        )
    kind, job = locate(api, job_id)
    only_for = {
        "backtest": {"--trades": trades_path, "--equity": equity_path, "--report": report_path},
        "optimization": {"--results": results_path},
    }
    for owner, options in only_for.items():
        given = [name for name, path in options.items() if path is not None]
        if kind != owner and given:
            raise click.UsageError(f"{', '.join(given)}: for a {owner}, which {job_id} is not")
    base = path_of(kind, job_id)
    if json_path is not None:
        _write(json_path, json.dumps(job, indent=2) + "\n")
    if trades_path is not None:
        _write(trades_path, _csv(_paged(api, base + "/trades")))
    if equity_path is not None:
        curve = api.get(base + "/equity", points=points)["items"]
        _write(equity_path, _csv(curve))
    if results_path is not None:
        order_by = "window" if job["kind"] == "walk_forward" else job["request"]["objective"]
        _write(results_path, _csv(_flat(row) for row in _paged(api, base + "/results", order_by)))
    if report_path is not None:
        _write_report(api, base, report_path)


def _write_report(api: ApiClient, base: str, path: Path) -> None:
    try:
        html = api.get_bytes(base + "/report")
    except Refused as exc:
        if exc.status != 404:
            raise
        fail(f"this API serves no HTML report ({base}/report: 404)", REFUSED)
    _write(path, html.decode())


def _paged(api: ApiClient, path: str, order_by: str | None = None) -> Iterator[dict[str, Any]]:
    offset = 0
    while True:
        page = api.get(path, limit=PAGE, offset=offset, order_by=order_by)
        yield from page["items"]
        offset += len(page["items"])
        if not page["items"] or offset >= page["total"]:
            return


def _flat(row: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested objects (params, metrics) as `params.fast`, `metrics.sharpe` columns."""
    flat: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _csv(rows: Any) -> str:
    rows = list(rows)
    columns = list(dict.fromkeys(key for row in rows for key in row))
    text = io.StringIO()
    writer = csv.DictWriter(text, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return text.getvalue()


def _write(path: Path, text: str) -> None:
    if str(path) == "-":
        click.echo(text, nl=False)
    else:
        path.write_text(text)
