"""The API results against the issue's targets, as a table, Markdown and JSON."""

from collections.abc import Sequence
from pathlib import Path

from bench.api.result import ApiResult
from bench.support.report_files import markdown_table, met, write_report

_COLUMNS = (
    "request",
    "connections",
    "requests",
    "req/s",
    "p50 ms",
    "p90 ms",
    "p99 ms",
    "max ms",
    "statuses",
    "CPU cores api / postgres / rabbitmq / generator",
    "CPU ms per request api / postgres",
    "machine busy",
    "target",
    "result",
)


def _row(r: ApiResult) -> list[str]:
    s, cpu = r.summary, r.cpu_cores
    statuses = ", ".join(f"{code}: {n:,}" for code, n in sorted(s.statuses.items()))
    return [
        r.request,
        str(r.connections),
        f"{s.requests:,}",
        f"{s.requests_per_second:,.0f}",
        *(f"{s.latency_ms[q]:.1f}" for q in ("p50", "p90", "p99", "max")),
        statuses + (f"; {s.errors} errors" if s.errors else ""),
        " / ".join(f"{cpu.get(k, 0):.2f}" for k in ("api", "postgres", "rabbitmq", "generator")),
        " / ".join(f"{r.cpu_ms_per_request.get(k, 0):.2f}" for k in ("api", "postgres")),
        f"{cpu.get('machine_busy', 0):.0%}",
        r.target,
        met(r.passed),
    ]


def one_line(r: ApiResult) -> str:
    s = r.summary
    return (
        f"{r.request}: {s.requests_per_second:,.0f} req/s, p50 {s.latency_ms['p50']:.1f} ms,"
        f" p99 {s.latency_ms['p99']:.1f} ms, statuses {s.statuses}, errors {s.errors}"
        f" ({s.first_error[:80]}); CPU cores {r.cpu_cores}; target {met(r.passed)}"
    )


def write(results: Sequence[ApiResult], path: Path) -> str:
    body = [
        markdown_table(_COLUMNS, [_row(r) for r in results]),
        "",
        "- req/s: answers read per second over the measured span (after 1 s of warm-up), from"
        " a closed loop: each connection sends its next request when the last answer is in.",
        "- latency: from sending a request to reading its whole answer, at the generator.",
        "- CPU cores: average cores each process used during the load (postgres and rabbitmq:"
        " all their processes; generator: the load generator itself, which shares the machine);"
        " machine busy: share of all cores busy, anything else on the machine included;"
        " CPU ms per request: CPU time over answers, the figure least moved by neighbours.",
        "- POST: every answer a new queued job; the API's outbox relay publishes each to"
        " RabbitMQ meanwhile (nothing consumes them).",
    ]
    payload = {"results": [r.as_dict() for r in results]}
    return write_report(path, "API benchmark", body, payload)
