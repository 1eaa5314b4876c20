"""The engine results against the issue's targets, as a table, Markdown and JSON."""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.engine.orders import cost_targets
from bench.support.report_files import markdown_table, met, write_report

BACKTESTING_PY_TARGET = 100.0  # times faster than backtesting.py

_COLUMNS = ("engine", "bars", "seconds", "bars/s", "peak memory MB", "x ours", "note")


def _row(row: dict[str, Any]) -> list[str]:
    return [
        row["engine"],
        f"{row['bars']:,}",
        f"{row['seconds']:.4f}",
        f"{row['bars_per_second']:,}",
        f"{row['peak_memory_mb']:.1f}",
        f"{row['times_slower_than_ours']:g}",
        row["note"],
    ]


def table(rows: Sequence[dict[str, Any]]) -> str:
    return markdown_table(_COLUMNS, [_row(r) for r in rows])


def _check(name: str, measured: float, needed: float, *, strictly: bool) -> dict[str, Any]:
    return {
        "target": name,
        "times_faster": measured,
        "needed": f"{'>' if strictly else '>='} {needed:g}x",
        "met": measured > needed if strictly else measured >= needed,
    }


def targets(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each target of the issue with how many times faster ours is, and whether it is met."""
    ratio = {r["engine"]: r["times_slower_than_ours"] for r in rows}
    return [
        _check("beat vectorbt after JIT warm-up", ratio["vectorbt"], 1.0, strictly=True),
        _check(
            "beat vectorbt after JIT warm-up, simulation only",
            ratio["vectorbt: simulation only"],
            1.0,
            strictly=True,
        ),
        _check(
            "100x faster than backtesting.py",
            ratio["backtesting.py"],
            BACKTESTING_PY_TARGET,
            strictly=False,
        ),
    ]


def cost_checks(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The orders and detail targets: each at most so many times its comparison's cost."""
    ratio = {r["engine"]: r["times_slower_than_ours"] for r in rows}
    if "ours: time stop" not in ratio:
        return []
    return [
        {
            "target": name,
            "times_faster": 1 / measured,
            "needed": f"<= {limit:g}x the cost",
            "met": measured <= limit,
            "cost": measured,
        }
        for name, measured, limit in cost_targets(ratio)
    ]


def target_lines(checks: Sequence[dict[str, Any]]) -> list[str]:
    return [
        f"- {c['target']}: {c['cost']:g}x: {met(c['met'])}"
        if "cost" in c
        else f"- {c['target']}: ours {c['times_faster']:g}x faster (needs {c['needed']}):"
        f" {met(c['met'])}"
        for c in checks
    ]


def write(rows: Sequence[dict[str, Any]], path: Path) -> str:
    checks = targets(rows) + cost_checks(rows)
    body = [
        table(rows),
        "",
        "Targets:",
        "",
        *target_lines(checks),
        "",
        "- seconds: best of a few runs after warm-up (numba kernels loaded or compiled, vectorbt's"
        " JIT warmed); x ours: seconds / ours (the simulation-only rows against ours'"
        " simulation only).",
        "- peak memory: Python and numpy allocations under tracemalloc in a separate run.",
    ]
    payload = {"rows": list(rows), "targets": checks}
    return write_report(path, "Engine benchmark", body, payload)
