"""The strategies results against the issue's targets, as a table, Markdown and JSON."""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.support.report_files import markdown_table, met, write_report

# An expression backtest may take at most this many times the built-in's time, and an
# expression grid must reach at least this share of the built-in grid's rate.
BACKTEST_TIME_LIMIT = 1.5
GRID_RATE_NEEDED = 0.5

_COLUMNS = ("strategy", "run", "bar-evaluations", "seconds", "bar-evaluations/s", "CPU seconds")


def _row(row: dict[str, Any]) -> list[str]:
    cpu = row.get("cpu_seconds")
    return [
        row["strategy"],
        row["run"],
        f"{row['bar_evaluations']:,}",
        f"{row['seconds']:.4f}",
        f"{row['bar_evaluations_per_second']:,}",
        "" if cpu is None else f"{cpu:.4f}",
    ]


def targets(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    seconds = {(r["strategy"], r["run"] == "one backtest"): r["seconds"] for r in rows}
    cpu = {r["strategy"]: r["cpu_seconds"] for r in rows if "cpu_seconds" in r}
    backtest_ratio = seconds[("expression", True)] / seconds[("built-in", True)]
    checks = [
        {
            "target": "expression backtest time / built-in's",
            "measured": round(backtest_ratio, 2),
            "needed": f"<= {BACKTEST_TIME_LIMIT:g}",
            "met": backtest_ratio <= BACKTEST_TIME_LIMIT,
        }
    ]
    grids = [r["strategy"] for r in rows if r["run"] != "one backtest"]
    for kind in (k for k in grids if k.startswith("expression")):
        wall_ratio = seconds[("built-in", False)] / seconds[(kind, False)]
        # Judged on CPU time where measured: the wall clock of a shared machine also counts
        # the other processes' turns.
        grid_ratio = cpu["built-in"] / cpu[kind] if kind in cpu else wall_ratio
        checks.append(
            {
                "target": f"{kind} grid rate / built-in grid's",
                "measured": round(grid_ratio, 2),
                "wall_clock": round(wall_ratio, 2),
                "needed": f">= {GRID_RATE_NEEDED:g}",
                "met": grid_ratio >= GRID_RATE_NEEDED,
            }
        )
    return checks


def write(rows: Sequence[dict[str, Any]], path: Path) -> str:
    checks = targets(rows)
    body = [
        markdown_table(_COLUMNS, [_row(r) for r in rows]),
        "",
        "Targets:",
        "",
        *(
            f"- {c['target']}: {c['measured']:g} (needs {c['needed']}): {met(c['met'])}"
            + (f"; by the wall clock {c['wall_clock']:g}" if "wall_clock" in c else "")
            for c in checks
        ),
        "",
        "- One backtest: best of a few runs after the kernels are compiled; a grid: the best of"
        " two runs, a fresh indicator cache or expression evaluator in each, as a chunk has;"
        " grid rates are compared by the CPU time of this process (the wall clock of a shared"
        " machine also counts other processes), the wall-clock ratio beside it.",
        "- `expression + htf|adx|supertrend`: the sma_cross grid, long while the filter holds"
        ' and short while it does not; the filters are `htf(close > ema(close, 50), "60")`,'
        " `adx(14) > 20` and `supertrend(10, 3) > 0`, each computed once per grid.",
    ]
    return write_report(path, "Strategies benchmark", body, {"rows": list(rows), "targets": checks})
