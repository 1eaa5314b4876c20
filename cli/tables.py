"""Resources as rich tables: a job's summary, a backtest's metrics and trades, the top rows
of an optimization, lists of jobs and strategies."""

import json
from typing import Any

from rich.table import Table


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _fields(title: str, rows: list[tuple[str, Any]]) -> Table:
    table = Table("field", "value", title=title, title_justify="left")
    for name, value in rows:
        table.add_row(name, cell(value))
    return table


def _strategy_label(strategy: dict[str, Any]) -> str:
    name = strategy.get("name") or ("expression" if strategy.get("definition") else "?")
    params = ", ".join(f"{k}={cell(v)}" for k, v in (strategy.get("params") or {}).items())
    return f"{name}({params})"


def _varied(request: dict[str, Any]) -> dict[str, Any]:
    """What an optimization varies: its grid, or a Bayesian search's space."""
    return dict(request.get("param_grid") or request.get("param_space") or {})


def _grid_label(param_grid: dict[str, Any]) -> str:
    """Each parameter's values, a long list as its first and last."""

    def values(given: Any) -> str:
        if isinstance(given, dict) and "low" in given:  # a Bayesian search's range
            step = f" step {cell(given['step'])}" if given.get("step") is not None else ""
            log = " log" if given.get("log") else ""
            return f"{cell(given['low'])}..{cell(given['high'])}{step}{log}"
        if isinstance(given, list) and len(given) > 6:
            return f"{cell(given[0])}..{cell(given[-1])} ({len(given)} values)"
        return cell(given)

    return "; ".join(f"{name}={values(given)}" for name, given in param_grid.items())


def _series(request: dict[str, Any]) -> str:
    return f"{request['category']} {request['symbol']} {request['interval']}"


def backfill_summary(job: dict[str, Any]) -> Table:
    keys = ("id", "status", "category", "symbol", "interval", "start", "end", "rows", "progress")
    return _fields("backfill", [*((k, job.get(k)) for k in keys), ("error", job.get("error"))])


def backtest_summary(job: dict[str, Any]) -> Table:
    request = job["request"]
    rows = [
        ("id", job["id"]),
        ("status", job["status"]),
        ("series", _series(request)),
        ("range", f"{request['start']} .. {request['end']}"),
        ("strategy", _strategy_label(request["strategy"])),
        ("bars", (job.get("data") or {}).get("bars")),
        ("exits", job.get("exit_counts")),
        ("error", job.get("error")),
    ]
    rows += [("warning", warning) for warning in job.get("warnings") or []]
    return _fields("backtest", rows)


def metrics_table(metrics: dict[str, Any], title: str = "metrics") -> Table:
    table = Table("metric", "value", title=title, title_justify="left")
    for name, value in metrics.items():
        table.add_row(name, cell(value))
    return table


TRADE_COLUMNS = ("side", "entry_time", "entry_price", "exit_time", "exit_price", "qty", "pnl")


def trades_table(trades: list[dict[str, Any]], total: int) -> Table:
    shown = f"trades ({len(trades)} of {total})" if total > len(trades) else f"trades ({total})"
    table = Table(*TRADE_COLUMNS, "return", "exit_reason", title=shown, title_justify="left")
    for trade in trades:
        columns = (*TRADE_COLUMNS, "return", "exit_reason")
        table.add_row(*(cell(trade.get(c)) for c in columns))
    return table


def optimization_summary(job: dict[str, Any]) -> Table:
    request = job["request"]
    progress = job.get("progress") or {}
    best = job.get("best") or {}
    rows = [
        ("id", job["id"]),
        ("status", job["status"]),
        ("kind", job["kind"]),
        ("series", _series(request["backtest"])),
        ("strategy", request["backtest"]["strategy"].get("name") or "expression"),
        *(
            (name, _grid_label(request[name]))
            for name in ("param_grid", "param_space", "search")
            if request.get(name)
        ),
        ("objective", request.get("objective")),
        ("progress", f"{progress.get('done')}/{progress.get('total')}"),
        ("skipped", job.get("skipped")),
        ("best params", best.get("params")),
        *_search_rows(job),
        ("error", job.get("error")),
    ]
    return _fields("optimization", rows)


def _search_rows(job: dict[str, Any]) -> list[tuple[str, Any]]:
    """A finished Bayesian search: its asks, and which parameters mattered most."""
    search = job.get("search")
    rows: list[tuple[str, Any]] = [("warning", w) for w in job.get("warnings") or []]
    if not search:
        return rows
    rows.append(("trials", f"{search['trials']} ({search['rule_breaks']} rule breaks asked)"))
    importance = search.get("importance") or {}
    if importance:
        shares = ", ".join(f"{n} {v:.0%}" for n, v in importance.items())
        rows.append(("importance", shares))
    return rows


def results_table(rows: list[dict[str, Any]], objective: str, total: int) -> Table:
    if rows and "window" in rows[0]:
        title = f"windows ({len(rows)} of {total}), each trained and tested by {objective}"
        table = Table("window", "test_start", "params", f"train {objective}", f"test {objective}")
        for row in rows:
            table.add_row(
                cell(row["window"]),
                cell(row["test_start"]),
                cell(row["params"]),
                cell((row.get("train_metrics") or {}).get(objective)),
                cell((row.get("test_metrics") or {}).get(objective)),
            )
    else:
        title = f"top {len(rows)} of {total} by {objective}"
        table = Table("rank", "params", objective, "total_return", "max_drawdown", "num_trades")
        for rank, row in enumerate(rows, 1):
            metrics = row.get("metrics") or {}
            table.add_row(
                str(rank),
                cell(row["params"]),
                *(cell(metrics.get(k)) for k in (objective, "total_return", "max_drawdown")),
                cell(metrics.get("num_trades")),
            )
    table.title, table.title_justify = title, "left"
    return table


def jobs_table(kind: str, jobs: list[dict[str, Any]], total: int) -> Table:
    title = f"{kind}s ({len(jobs)} of {total})"
    table = Table("id", "status", "series", "what", "created_at", title=title, title_justify="left")
    for job in jobs:
        table.add_row(job["id"], job["status"], *_job_columns(kind, job), cell(job["created_at"]))
    return table


def _job_columns(kind: str, job: dict[str, Any]) -> tuple[str, str]:
    if kind == "backfill":
        return _series(job), f"{job['start']} .. {job['end']} ({cell(job.get('rows'))} rows)"
    if kind == "optimization":
        backtest = job["request"]["backtest"]
        name = backtest["strategy"].get("name") or "expression"
        return _series(
            backtest
        ), f"{job['kind']} {name} over {_grid_label(_varied(job['request']))}"
    metrics = job.get("metrics") or {}
    sharpe = f" sharpe {cell(metrics.get('sharpe'))}" if metrics else ""
    return _series(job["request"]), _strategy_label(job["request"]["strategy"]) + sharpe


def strategies_table(strategies: list[dict[str, Any]], total: int) -> Table:
    title = f"strategies ({len(strategies)} of {total})"
    table = Table("name", "kind", "params", "id / description", title=title, title_justify="left")
    for entry in strategies:
        params = entry.get("params")
        if isinstance(params, list):  # a registered strategy's schema
            shown = ", ".join(f"{p['name']}={cell(p.get('default'))}" for p in params)
        else:
            shown = cell(params)
        about = entry.get("id") or entry.get("description") or entry.get("error") or ""
        table.add_row(entry["name"], entry["kind"], shown, cell(about))
    return table
