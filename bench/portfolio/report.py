"""The portfolio results against the issue's target, as a table, Markdown and JSON."""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.support.report_files import markdown_table, met, write_report

# One 50-symbol portfolio over a year of hourly bars, after loading, in at most this long.
ENGINE_SECONDS_NEEDED = 0.050
# Loading those candles, per worker.
LOAD_RATE_NEEDED = 2_000_000

_COLUMNS = ("run", "symbol-bars", "sets", "seconds", "symbol-bars/s")


def _row(row: dict[str, Any]) -> list[str]:
    return [
        row["run"],
        f"{row['symbol_bars']:,}",
        str(row["sets"]),
        f"{row['seconds']:.4f}",
        f"{row['symbol_bars_per_second']:,}",
    ]


def _speed_up(rows: Sequence[dict[str, Any]]) -> list[str]:
    by_workers = {r["workers"]: r["seconds"] for r in rows if "workers" in r}
    if not {1, 2} <= by_workers.keys():
        return []
    return [f"- Speed-up from 1 to 2 workers: {by_workers[1] / by_workers[2]:.2f}x"]


def write(rows: Sequence[dict[str, Any]], path: Path) -> str:
    slots = next(r for r in rows if r["run"].startswith("slots"))
    passed = slots["seconds"] <= ENGINE_SECONDS_NEEDED
    loading = next(r for r in rows if r["run"].startswith("loading"))
    load_passed = loading["symbol_bars_per_second"] >= LOAD_RATE_NEEDED
    body = [
        markdown_table(_COLUMNS, [_row(r) for r in rows]),
        "",
        f"- Engine time of one portfolio backtest (slots): {slots['seconds'] * 1000:.1f} ms "
        f"(needs <= {ENGINE_SECONDS_NEEDED * 1000:g} ms): {met(passed)}",
        f"- Loading: {loading['symbol_bars_per_second']:,} candles/s "
        f"(needs >= {LOAD_RATE_NEEDED:,}): {met(load_passed)}; "
        f"{loading['row_by_row_copy_seconds'] / loading['seconds']:.1f}x faster than the"
        " row-by-row COPY it replaced, timed in the same run (`python -m bench loading`)",
        "- Engine time: every symbol's targets and rank, the union timeline, the compiled loop,"
        " trades with their details and the metrics; best of 15 runs after compiling. The"
        " one-process grid runs its sets one after another in this process, which runs with"
        " the engine pool's allocator settings (`shared/freed_memory.py`: glibc keeps freed"
        " memory for the next run instead of faulting it in again).",
        "- Through the queue: the same grid as an optimization job over the candles stored in"
        " a scratch database, planned and run by 1 and then 2 engine workers (one pool process"
        " each; chunks over RabbitMQ, each worker loading the candles once), from the job's"
        " `created_at` to its `finished_at`, best of 2; the two workers share the machine's"
        " cores with PostgreSQL and RabbitMQ.",
        *_speed_up(rows),
    ]
    payload = {
        "rows": list(rows),
        "engine_seconds_needed": ENGINE_SECONDS_NEEDED,
        "met": passed,
        "load_rate_needed": LOAD_RATE_NEEDED,
        "load_met": load_passed,
    }
    return write_report(path, "Portfolio benchmark", body, payload)
