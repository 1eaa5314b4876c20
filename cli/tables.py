"""Resources as rich tables: a job's setup and summary, a backtest's metrics, Monte Carlo and
trades, an optimization's robustness, out-of-sample metrics and top rows, lists of jobs and
strategies, backtests side by side, period returns. Numbers as cli/number_formats.py shows
them."""

from typing import Any

from rich.table import Table

from cli.number_formats import formatted, percent, plain
from cli.request_schema import request_schemas

STOPS = ("stop_loss", "take_profit", "trailing_stop")
# Request fields the setup shows in rows of their own (the rest: under `settings`).
_OWN_ROWS = frozenset(
    {"category", "symbol", "symbols", "interval", "start", "end", "strategy", "leverage"}
    | {"direction", "position_size", *STOPS}
)


def cell(value: Any) -> str:
    return plain(value)


def _fields(title: str, rows: list[tuple[str, Any]]) -> Table:
    table = Table("field", "value", title=title, title_justify="left")
    for name, value in rows:
        table.add_row(name, value if isinstance(value, str) else cell(value))
    return table


def strategy_name(job: dict[str, Any]) -> str:
    """The job's `strategy_name`, or (from an API without it) what its request names."""
    if job.get("strategy_name"):
        return str(job["strategy_name"])
    request = job.get("request") or {}
    strategy = (request.get("backtest") or request).get("strategy") or {}
    definition = strategy.get("definition") or {}
    return str(strategy.get("name") or definition.get("name") or "expression")


def _strategy_label(
    job: dict[str, Any], strategy: dict[str, Any], varied: frozenset[str] = frozenset()
) -> str:
    """`sma_cross(fast=10, slow=30)`; the parameters an optimization varies left out."""
    params = strategy.get("params") or {}
    shown = ", ".join(f"{k}={cell(v)}" for k, v in params.items() if k not in varied)
    return f"{strategy_name(job)}({shown})"


def _symbols(request: dict[str, Any]) -> str:
    return ",".join(request.get("symbols") or []) or str(request.get("symbol"))


def _series(request: dict[str, Any]) -> str:
    return f"{request['category']} {_symbols(request)} {request['interval']}"


def stop_text(name: str, value: Any) -> str:
    """`stop_loss 2.00 %` or `trailing_stop 3 ATR`."""
    if isinstance(value, dict) and "atr" in value:
        return f"{name} {cell(value['atr'])} ATR"
    return f"{name} {formatted(name, value)}"


def setup_line(request: dict[str, Any]) -> str:
    """What changes a result, in one line: `10x long_short size 50.00 % stop_loss 2.00 %`."""
    parts = [f"{cell(request.get('leverage', 1))}x", str(request.get("direction", "long_only"))]
    if request.get("position_size", 1) != 1:
        parts.append(f"size {formatted('position_size', request['position_size'])}")
    parts += [stop_text(name, request[name]) for name in STOPS if request.get(name) is not None]
    return " ".join(parts)


def setup_rows(
    job: dict[str, Any], request: dict[str, Any], varied: frozenset[str] = frozenset()
) -> list[tuple[str, Any]]:
    """A backtest request as the rows a trader checks first, then every other setting that
    differs from the API's default (`varied`: the names an optimization varies)."""
    stops = [stop_text(name, request[name]) for name in STOPS if request.get(name) is not None]
    rows: list[tuple[str, Any]] = [
        ("strategy", _strategy_label(job, request.get("strategy") or {}, varied)),
        ("symbols" if request.get("symbols") else "symbol", _symbols(request)),
        ("market", f"{request.get('category')} {request.get('interval')}"),
        ("range", f"{request.get('start')} .. {request.get('end')}"),
        ("leverage", f"{cell(request.get('leverage', 1))}x"),
        ("direction", request.get("direction")),
        ("position_size", formatted("position_size", request.get("position_size"))),
        ("stops", ", ".join(stops) or "none"),
    ]
    defaults = {
        name: schema.get("default")
        for name, schema in request_schemas()["backtest"]["properties"].items()
    }
    for name, value in request.items():
        if name in _OWN_ROWS or value is None or (name in defaults and value == defaults[name]):
            continue
        rows.append((name, _setting(name, value)))
    return rows


_TAGS = ("type", "method")  # an object's kind, shown first: `limit: offset=0.10%, ...`


def _setting(name: str, value: Any) -> str:
    if isinstance(value, dict):
        tag = next((value[t] for t in _TAGS if isinstance(value.get(t), str)), None)
        rest = ", ".join(f"{k}={_setting(k, v)}" for k, v in value.items() if k not in _TAGS)
        return f"{tag}: {rest}" if tag and rest else tag or rest
    return cell(value) if isinstance(value, int) else formatted(name, value)


def backfill_summary(job: dict[str, Any]) -> Table:
    keys = ("id", "status", "category", "symbol", "interval", "start", "end", "rows")
    rows = [
        *((k, job.get(k)) for k in keys),
        ("progress", formatted("progress", job.get("progress"))),
    ]
    return _fields("backfill", [*rows, ("error", job.get("error"))])


def backtest_summary(job: dict[str, Any]) -> Table:
    rows: list[tuple[str, Any]] = [("id", job["id"]), ("status", job["status"])]
    rows += setup_rows(job, job["request"])
    rows += [
        ("bars", (job.get("data") or {}).get("bars")),
        ("exits", job.get("exit_counts")),
    ]
    if job.get("rerun_of"):
        rows += [("rerun of", job["rerun_of"]), ("reproduced", job.get("reproduced"))]
        rows += [("difference", difference) for difference in job.get("differences") or []]
    rows.append(("error", job.get("error")))
    rows += [("warning", warning) for warning in job.get("warnings") or []]
    return _fields("backtest", rows)


def metrics_table(metrics: dict[str, Any], title: str = "metrics") -> Table:
    table = Table("metric", "value", title=title, title_justify="left")
    for name, value in metrics.items():
        table.add_row(name, formatted(name, value))
    return table


def per_symbol_table(per_symbol: dict[str, dict[str, Any]]) -> Table:
    """A portfolio's results by symbol (`per_symbol`)."""
    columns = list(dict.fromkeys(key for values in per_symbol.values() for key in values))
    table = Table("symbol", *columns, title="per symbol", title_justify="left")
    for symbol, values in per_symbol.items():
        table.add_row(symbol, *(formatted(key, values.get(key)) for key in columns))
    return table


PERCENTILES = ("p5", "p25", "p50", "p75", "p95")


def monte_carlo_table(monte_carlo: dict[str, Any]) -> Table:
    title = (
        f"Monte Carlo ({monte_carlo['runs']:,} runs, seed {monte_carlo['seed']}): "
        f"probability of a loss {percent(monte_carlo['prob_loss'])}"
    )
    table = Table("", *PERCENTILES, title=title, title_justify="left")
    for key in ("final_equity", "max_drawdown"):
        values = monte_carlo.get(key) or {}
        table.add_row(key, *(formatted(key, values.get(p)) for p in PERCENTILES))
    return table


TRADE_COLUMNS = ("side", "entry_time", "entry_price", "exit_time", "exit_price", "qty", "pnl")
TRADE_EXTRAS = ("return", "equity_return", "fees", "funding", "mae", "mfe", "bars_held")


def trades_table(trades: list[dict[str, Any]], total: int) -> Table:
    shown = f"trades ({len(trades)} of {total})" if total > len(trades) else f"trades ({total})"
    extras = [c for c in TRADE_EXTRAS if any(c in trade for trade in trades)]
    columns = (*(["symbol"] if any("symbol" in t for t in trades) else []), *TRADE_COLUMNS)
    columns = (*columns, *extras, "exit_reason")
    table = Table(*columns, title=shown, title_justify="left")
    for trade in trades:
        table.add_row(*(formatted(c, trade.get(c)) for c in columns))
    return table


def optimization_summary(job: dict[str, Any]) -> Table:
    request = job["request"]
    progress = job.get("progress") or {}
    best = job.get("best") or {}
    rows: list[tuple[str, Any]] = [("id", job["id"]), ("status", job["status"])]
    rows.append(("kind", job["kind"]))
    varied = {**(request.get("param_grid") or {}), **(request.get("param_space") or {})}
    rows += setup_rows(job, request["backtest"], frozenset(varied))
    rows += [
        (name, _grid_label(request[name]))
        for name in ("param_grid", "param_space", "search")
        if request.get(name)
    ]
    rows += [
        ("objective", request.get("objective")),
        ("progress", f"{progress.get('done')}/{progress.get('total')}"),
        ("skipped", job.get("skipped")),
        ("best params", best.get("params")),
        *_search_rows(job.get("search")),
        ("error", job.get("error")),
    ]
    rows += [("warning", warning) for warning in job.get("warnings") or []]
    return _fields("optimization", rows)


def _search_rows(search: dict[str, Any] | None) -> list[tuple[str, Any]]:
    """A Bayesian search's asks, and which parameters mattered most."""
    if not search:
        return []
    rows: list[tuple[str, Any]] = []
    if "trials" in search:
        breaks = search.get("rule_breaks")
        asked = f" ({breaks} rule breaks asked)" if breaks is not None else ""
        rows.append(("trials", f"{search['trials']}{asked}"))
    importance = search.get("importance") or {}
    if importance:
        rows.append(("importance", ", ".join(f"{n} {percent(v)}" for n, v in importance.items())))
    return rows


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


def robustness_table(robustness: dict[str, Any], title: str = "robustness") -> Table:
    """How likely the best result is luck: the deflated Sharpe ratio, the probability of
    backtest overfitting and of an out-of-sample loss, over `trials` sets."""
    return _fields(title, [(key, formatted(key, value)) for key, value in robustness.items()])


def out_of_sample_table(walk_forward: dict[str, Any]) -> Table:
    title = f"out of sample ({walk_forward.get('windows')} windows)"
    return metrics_table(walk_forward.get("test_metrics") or {}, title)


def results_table(rows: list[dict[str, Any]], objective: str, total: int) -> Table:
    if rows and "window" in rows[0] and rows[0]["window"] is not None:
        title = f"windows ({len(rows)} of {total}), each trained and tested by {objective}"
        table = Table(
            "window",
            "test_start",
            "params",
            f"train {objective}",
            f"test {objective}",
            "test total_return",
            "train dsr",
            "train pbo",
        )
        for row in rows:
            test = row.get("test_metrics") or {}
            robustness = row.get("robustness") or {}
            table.add_row(
                cell(row["window"]),
                cell(row["test_start"]),
                cell(row["params"]),
                formatted(objective, (row.get("train_metrics") or {}).get(objective)),
                formatted(objective, test.get(objective)),
                formatted("total_return", test.get("total_return")),
                formatted("dsr", robustness.get("dsr")),
                formatted("pbo", robustness.get("pbo")),
            )
    else:
        title = f"top {len(rows)} of {total} by {objective}"
        others = [k for k in ("total_return", "max_drawdown", "num_trades") if k != objective]
        trials = any(row.get("trial") is not None for row in rows)  # a Bayesian search's
        table = Table("rank", *(["trial"] if trials else []), "params", objective, *others)
        for rank, row in enumerate(rows, 1):
            metrics = row.get("metrics") or {}
            table.add_row(
                str(rank),
                *([cell(row.get("trial"))] if trials else []),
                cell(row["params"]),
                *(formatted(k, metrics.get(k)) for k in (objective, *others)),
            )
    table.title, table.title_justify = title, "left"
    return table


def jobs_table(kind: str, jobs: list[dict[str, Any]], total: int) -> Table:
    title = f"{kind}s ({len(jobs)} of {total})"
    if kind == "backfill":
        table = Table("id", "status", "series", "range", "rows", "created_at", title=title)
        for job in jobs:
            span = f"{job['start']} .. {job['end']}"
            table.add_row(
                job["id"],
                job["status"],
                _series(job),
                span,
                cell(job.get("rows")),
                _time(job["created_at"]),
            )
    else:
        table = Table(
            "id", "status", "strategy", "series", "setup", "result", "created_at", title=title
        )
        for job in jobs:
            request = job["request"].get("backtest") or job["request"]
            table.add_row(
                job["id"],
                job["status"],
                strategy_name(job),
                _series(request),
                setup_line(request),
                _result(kind, job),
                _time(job["created_at"]),
            )
    table.title_justify = "left"
    table.columns[0].no_wrap = True
    return table


def _time(text: Any) -> str:
    """An ISO-8601 UTC time to the second: `2026-12-07T08:33:26Z`."""
    shown = str(text)
    return shown[:19] + "Z" if len(shown) > 20 and shown[10:11] == "T" else shown


def _result(kind: str, job: dict[str, Any]) -> str:
    if kind == "backtest":
        metrics = job.get("metrics") or {}
        if not metrics:
            return "-"
        keys = ("total_return", "sharpe", "max_drawdown")
        return ", ".join(f"{k} {formatted(k, metrics.get(k))}" for k in keys)
    objective = job["request"].get("objective") or "sharpe"
    head = f"{job['kind']} by {objective}"
    out_of_sample = (job.get("walk_forward") or {}).get("test_metrics")
    if out_of_sample:
        names = dict.fromkeys((objective, "total_return"))
        shown = ", ".join(f"{k} {formatted(k, out_of_sample.get(k))}" for k in names)
        return f"{head}: out of sample {shown}"
    best = job.get("best") or {}
    if not best.get("metrics"):
        return head
    value = formatted(objective, best["metrics"].get(objective))
    return f"{head}: best {value} {cell(best.get('params'))}"


def compare_table(jobs: list[tuple[str, dict[str, Any]]]) -> Table:
    """Backtests (or optimizations' best) side by side: their setups, then every metric."""
    table = Table("", *(job["id"][:8] for _, job in jobs), title="compared", title_justify="left")
    setups = [
        dict(setup_rows(job, job["request"].get("backtest") or job["request"])) for _, job in jobs
    ]
    names = list(dict.fromkeys(name for setup in setups for name in setup))
    for name in names:
        table.add_row(name, *(_text(setup.get(name)) for setup in setups))
    metrics = [compared_metrics(kind, job) for kind, job in jobs]
    keys = list(dict.fromkeys(key for m in metrics for key in m))
    table.add_section()
    for key in keys:
        table.add_row(key, *(formatted(key, m.get(key)) for m in metrics))
    return table


def compared_metrics(kind: str, job: dict[str, Any]) -> dict[str, Any]:
    """A backtest's metrics; an optimization's out-of-sample ones (walk-forward) or best's."""
    if kind == "backtest":
        return dict(job.get("metrics") or {})
    walk_forward = job.get("walk_forward") or {}
    best = job.get("best") or {}
    return dict(walk_forward.get("test_metrics") or best.get("metrics") or {})


def _text(value: Any) -> str:
    return value if isinstance(value, str) else cell(value)


MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def returns_table(period: str, items: list[dict[str, Any]]) -> Table:
    """Monthly returns as a year x month grid with each year's compounded total; other
    periods as a list."""
    title = f"{period}ly returns" if period != "day" else "daily returns"
    if period == "month" and all(len(str(item["period"])) == 7 for item in items):
        by_year: dict[str, dict[int, float]] = {}
        for item in items:
            year, month = str(item["period"]).split("-")
            by_year.setdefault(year, {})[int(month)] = item["return"]
        table = Table("year", *MONTHS, "year", title=title, title_justify="left")
        for year, months in by_year.items():
            growth = 1.0
            for value in months.values():
                growth *= 1 + (value or 0.0)
            cells = [formatted("return", months.get(m)) for m in range(1, 13)]
            table.add_row(year, *cells, percent(growth - 1))
        return table
    table = Table("period", "return", title=title, title_justify="left")
    for item in items:
        table.add_row(str(item["period"]), formatted("return", item.get("return")))
    return table


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
