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
        " trades with their details and the metrics; best of a few runs after compiling. The"
        " grid runs its sets one after another in this one process (through the API its"
        " chunks spread over the engine workers). The process runs with the engine pool's"
        " allocator settings (`POOL_ALLOCATOR_ENV` in services/engine/simulation_pool.py:"
        " glibc keeps freed memory for the next run instead of faulting it in again).",
    ]
    payload = {
        "rows": list(rows),
        "engine_seconds_needed": ENGINE_SECONDS_NEEDED,
        "met": passed,
        "load_rate_needed": LOAD_RATE_NEEDED,
        "load_met": load_passed,
    }
    return write_report(path, "Portfolio benchmark", body, payload)
