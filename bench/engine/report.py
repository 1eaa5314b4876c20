"""The engine results against the issue's targets, as a table, Markdown and JSON."""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.engine.breakdown import Part, lines
from bench.engine.orders import cost_targets
from bench.support.report_files import markdown_table, met, write_report

BACKTESTING_PY_TARGET = 100.0  # times faster than backtesting.py
ONE_BACKTEST_SECONDS = 0.005  # a year of minutes with its metrics (issue 27)
FLOOR_RATIO = 3.5  # at most this many times the hand-written loop
RAPTORBT_TARGET = 2.0  # times faster than raptorbt

_COLUMNS = ("engine", "bars", "seconds", "bars/s", "peak memory MB", "x ours", "x floor", "note")


def _row(row: dict[str, Any]) -> list[str]:
    return [
        row["engine"],
        f"{row['bars']:,}",
        f"{row['seconds']:.4f}",
        f"{row['bars_per_second']:,}",
        f"{row['peak_memory_mb']:.1f}",
        f"{row['times_slower_than_ours']:g}",
        f"{row['times_the_floor']:g}",
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
    ours = rows[0]
    return [
        {
            "target": f"one backtest with its metrics in <= {ONE_BACKTEST_SECONDS * 1000:g} ms",
            "times_faster": round(ONE_BACKTEST_SECONDS / ours["seconds"], 2),
            "needed": ">= 1x",
            "met": ours["seconds"] <= ONE_BACKTEST_SECONDS,
        },
        {
            "target": f"within {FLOOR_RATIO:g}x of the hand-written loop",
            "times_faster": round(1 / ours["times_the_floor"], 2),
            "needed": f">= {1 / FLOOR_RATIO:.2f}x",
            "met": ours["times_the_floor"] <= FLOOR_RATIO,
        },
        _check("2x faster than raptorbt", ratio["raptorbt 0.13"], RAPTORBT_TARGET, strictly=False),
        _check("beat vectorbt after JIT warm-up", ratio["vectorbt"], 1.0, strictly=True),
        _check(
            "beat vectorbt after JIT warm-up, simulation only",
            ratio["vectorbt: simulation only"],
            1.0,
            strictly=True,
        ),
        _check(
            "100x faster than backtesting.py",
            ratio["backtesting.py 0.6.6"],
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


def write(rows: Sequence[dict[str, Any]], path: Path, parts: Sequence[Part] = ()) -> str:
    """`parts`: the first row's backtest, whole and by part (bench/engine/breakdown.py)."""
    checks = targets(rows) + cost_checks(rows)
    where = ["Where the time goes:", "", *lines("ours, one backtest", list(parts)), ""]
    body = [
        table(rows),
        "",
        "Targets:",
        "",
        *target_lines(checks),
        "",
        *(where if parts else []),
        "- seconds: best of a few runs after warm-up (numba kernels loaded or compiled, vectorbt's"
        " JIT warmed); x ours: seconds / ours (the simulation-only rows against ours'"
        " simulation only); x floor: seconds / the hand-written numba loop's (the"
        " simulation-only rows: / the hand-written simulation on given targets).",
        "- every peer is checked to make our trades before it is timed; its note says so.",
        "- peak memory: Python and numpy allocations under tracemalloc in a separate run.",
    ]
    breakdown = [{"part": p.name, "cpu_seconds": round(p.seconds, 5)} for p in parts]
    payload = {"rows": list(rows), "targets": checks, "breakdown": breakdown}
    return write_report(path, "Engine benchmark", body, payload)
