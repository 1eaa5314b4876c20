"""The ingest results as a table on the console, in Markdown and in JSON under bench/results/."""

from collections.abc import Sequence
from pathlib import Path

from bench.ingest.result import IngestResult
from bench.support import report_files

_COLUMNS = (
    "scenario",
    "in flight",
    "per commit",
    "rows",
    "seconds",
    "candles/s",
    "5 s median",
    "5 s worst",
    "target",
    "403s (bans)",
    "peak RSS MB ingest / sim / bench",
    "CPU cores ingest / sim / postgres",
    "CPU s per 1M candles ingest / sim / postgres",
    "machine busy",
    "result",
)


def _row(r: IngestResult) -> list[str]:
    rss, cpu = r.peak_rss_mb, r.cpu_cores
    return [
        r.scenario,
        str(r.pages_in_flight),
        str(r.pages_per_commit),
        f"{r.rows:,}" + ("" if r.completed else f" of {r.candles_expected:,}"),
        f"{r.seconds:.1f}",
        f"{r.candles_per_second:,.0f}",
        f"{r.sustained_median_cps:,.0f}",
        f"{r.sustained_worst_cps:,.0f}",
        f"{r.target_cps:,.0f}",
        f"{r.sim_403} ({r.sim_bans})",
        " / ".join(f"{rss.get(k, 0):.0f}" for k in ("ingest", "sim", "bench")),
        " / ".join(f"{cpu.get(k, 0):.2f}" for k in ("ingest", "sim", "postgres")),
        " / ".join(
            f"{r.cpu_seconds_per_million.get(k, 0):.1f}" for k in ("ingest", "sim", "postgres")
        ),
        f"{cpu.get('machine_busy', 0):.0%}",
        "PASS" if r.passed else "FAIL" + (f": {r.errors[:80]}" if r.errors else ""),
    ]


def markdown_table(results: Sequence[IngestResult]) -> str:
    return report_files.markdown_table(_COLUMNS, [_row(r) for r in results])


def _notes(results: Sequence[IngestResult]) -> list[str]:
    notes = [
        "- candles/s: rows written / (last job's `finished_at` - first job's `started_at`).",
        "- 5 s median / worst: rows written per trailing 5-second window while jobs ran.",
        "- CPU cores: average cores used while the jobs ran (postgres: all its processes);"
        " machine busy: share of all cores busy, anything else on the machine included.",
        "- 403s (bans): what the simulator's `GET /sim/stats` counted.",
    ]
    for r in results:
        notes.append(
            f"- {r.scenario}: {r.title}; target {r.target}; ingest paced at"
            f" {r.requests_per_second:g} req/s, achieved {r.pages / max(r.seconds, 1e-9):.1f}"
            f" pages/s; {r.jobs} jobs, {r.pages:,} pages,"
            f" {r.sim_requests:,} requests to the simulator."
        )
    return notes


def write_report(results: Sequence[IngestResult], path: Path) -> str:
    """Write `path`.json and `path`.md; return the Markdown."""
    body = [markdown_table(results), "", *_notes(results)]
    payload = {"results": [r.as_dict() for r in results]}
    return report_files.write_report(path, "Ingest benchmark", body, payload)
