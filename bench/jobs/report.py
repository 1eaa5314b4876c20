"""The jobs results, with the speed-up of more workers, as a table, Markdown and JSON."""

from collections.abc import Sequence
from pathlib import Path

from bench.jobs.result import JobsResult
from bench.support.report_files import markdown_table, write_report

_COLUMNS = (
    "workers",
    "jobs",
    "bars each",
    "succeeded / failed",
    "seconds",
    "jobs/s",
    "speed-up",
    "submit s",
    "median queued s",
    "median run s",
    "CPU cores api / engines / postgres / rabbitmq",
    "CPU ms per job api / engines / postgres / rabbitmq",
    "machine busy",
)

_PROCESSES = ("api", "engines", "postgres", "rabbitmq")


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def speed_up(r: JobsResult, baseline: JobsResult) -> float:
    return r.jobs_per_second / baseline.jobs_per_second if baseline.jobs_per_second else 0.0


def _row(r: JobsResult, baseline: JobsResult) -> list[str]:
    return [
        str(r.workers),
        str(r.jobs),
        f"{r.bars:,}",
        f"{r.succeeded} / {r.failed}",
        f"{r.seconds:.2f}",
        f"{r.jobs_per_second:.1f}",
        f"{speed_up(r, baseline):.2f}x",
        f"{r.submit_seconds:.2f}",
        _seconds(r.median_queued_seconds),
        _seconds(r.median_run_seconds),
        " / ".join(f"{r.cpu_cores.get(k, 0):.2f}" for k in _PROCESSES),
        " / ".join(f"{r.cpu_ms_per_job.get(k, 0):.1f}" for k in _PROCESSES),
        f"{r.cpu_cores.get('machine_busy', 0):.0%}",
    ]


def one_line(r: JobsResult) -> str:
    error = f", first error: {r.first_error[:100]}" if r.first_error else ""
    return (
        f"{r.workers} worker(s): {r.succeeded} of {r.jobs} succeeded in {r.seconds:.2f} s ="
        f" {r.jobs_per_second:.1f} jobs/s; CPU cores {r.cpu_cores}{error}"
    )


def write(results: Sequence[JobsResult], path: Path) -> str:
    baseline = results[0]
    body = [
        markdown_table(_COLUMNS, [_row(r, baseline) for r in results]),
        "",
        "- jobs/s: succeeded jobs / (last `finished_at` - first `created_at`), as the database"
        " recorded them: submission through the API, the outbox relay, RabbitMQ, loading the"
        " candles, the simulation and writing metrics, trades and equity.",
        f"- speed-up: jobs/s against the first row ({baseline.workers} worker(s)).",
        "- submit s: time to POST all the jobs (16 connections), during which workers already"
        " run the first ones; queued s: `started_at - created_at`; run s: `finished_at -"
        " started_at` of each job.",
        "- CPU: average cores, and CPU milliseconds per job, of each process from the first"
        " submission to the last job's end (engines: all workers and their simulation"
        " processes; postgres and rabbitmq: all their processes).",
    ]
    payload = {
        "results": [{**r.as_dict(), "speed_up": round(speed_up(r, baseline), 2)} for r in results]
    }
    return write_report(path, "Jobs benchmark", body, payload)
