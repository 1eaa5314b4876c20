"""The loading results against the issues' targets (24 and 27), as a table, Markdown and JSON."""

from pathlib import Path

from bench.loading.measure import LoadTiming
from bench.loading.writing import PAGE, PAGES_PER_COMMIT, WriteTiming
from bench.support.report_files import markdown_table, met, write_report

# Per worker: a year of 1-minute candles ready in at most this long, and this rate for any load.
YEAR_OF_MINUTES_SECONDS_NEEDED = 0.3
LOAD_RATE_NEEDED = 2_000_000

_COLUMNS = (
    "load",
    "symbols",
    "candles",
    "seconds",
    "candles/s",
    "row-by-row COPY s",
    "its candles/s",
    "x faster",
)


def _row(name: str, timing: LoadTiming) -> list[str]:
    return [
        name,
        str(timing.symbols),
        f"{timing.candles:,}",
        f"{timing.seconds:.4f}",
        f"{timing.candles_per_second:,}",
        f"{timing.rows_seconds:.4f}",
        f"{timing.rows_candles_per_second:,}",
        f"{timing.rows_seconds / timing.seconds:.1f}",
    ]


def _rate_line(name: str, timing: LoadTiming) -> str:
    return (
        f"- {name}: {timing.candles_per_second:,} candles/s (needs >= {LOAD_RATE_NEEDED:,}): "
        f"{met(timing.candles_per_second >= LOAD_RATE_NEEDED)}"
    )


def write(minutes: LoadTiming, portfolio: LoadTiming, writes: WriteTiming, path: Path) -> str:
    minutes_met = minutes.seconds <= YEAR_OF_MINUTES_SECONDS_NEEDED
    body = [
        markdown_table(
            _COLUMNS,
            [
                _row("a year of 1-minute candles, one symbol", minutes),
                _row(f"{portfolio.symbols} symbols x a year of hourly candles", portfolio),
            ],
        ),
        "",
        "Targets:",
        "",
        f"- a year of minutes ready in <= {YEAR_OF_MINUTES_SECONDS_NEEDED:g} s: "
        f"{minutes.seconds:.4f} s: {met(minutes_met)}",
        _rate_line("one symbol", minutes),
        _rate_line("a portfolio's symbols", portfolio),
        "",
        "- seconds: best of a few runs, from the query to the candles' numpy arrays, as the"
        " engine calls it on one pooled connection (one symbol: `load_candles_warmed`; a"
        " portfolio: `load_many_candles_warmed`, one query), 300 bars of warm-up included;"
        " from a scratch database written by the ingest's store (so its packed blocks too).",
        f"- writing: storing {writes.candles:,} 1-minute candles as the ingest does (pages of"
        f" {PAGE:,}, {PAGES_PER_COMMIT} per transaction) took {writes.seconds:.2f} s"
        f" ({writes.candles_per_second:,} candles/s) with the triggers that keep the blocks,"
        f" {writes.bare_seconds:.2f} s ({writes.bare_candles_per_second:,} candles/s) with them"
        f" disabled: {writes.seconds / writes.bare_seconds:.2f}x; best of 2 each, alternating.",
        "- row-by-row COPY: the loader before packed blocks (`bench/loading/row_copy.py`: a"
        " binary COPY of the rows decoded with numpy, one query per symbol), timed in the same"
        " runs, alternating with ours; both return the same arrays, checked before timing.",
    ]
    payload = {
        "rows": [
            {"load": name, **vars(timing)}
            for name, timing in (("minutes", minutes), ("portfolio", portfolio))
        ],
        "writes": vars(writes),
        "year_of_minutes_seconds_needed": YEAR_OF_MINUTES_SECONDS_NEEDED,
        "load_rate_needed": LOAD_RATE_NEEDED,
        "met": minutes_met
        and min(minutes.candles_per_second, portfolio.candles_per_second) >= LOAD_RATE_NEEDED,
    }
    return write_report(path, "Loading benchmark", body, payload)
