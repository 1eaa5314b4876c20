"""The submissions results against the issue's target (AMQP at least the HTTP rate)."""

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bench.support.report_files import markdown_table, met, write_report

if TYPE_CHECKING:
    from bench.submissions.run import TransportResult

_COLUMNS = (
    "transport",
    "in flight",
    "submissions",
    "per s",
    "p50 ms",
    "p90 ms",
    "p99 ms",
    "max ms",
    "answers",
    "CPU cores api / postgres / rabbitmq",
    "CPU ms per submission api / postgres / rabbitmq / producer",
    "machine busy",
)


def _row(r: "TransportResult") -> list[str]:
    s, cpu = r.summary, r.cpu_cores
    answers = ", ".join(f"{code}: {n:,}" for code, n in sorted(s.statuses.items()))
    return [
        r.transport,
        str(r.in_flight),
        f"{s.requests:,}",
        f"{s.requests_per_second:,.0f}",
        *(f"{s.latency_ms[q]:.1f}" for q in ("p50", "p90", "p99", "max")),
        answers + (f"; {s.errors} errors" if s.errors else ""),
        " / ".join(f"{cpu.get(k, 0):.2f}" for k in ("api", "postgres", "rabbitmq")),
        " / ".join(
            [
                *(
                    f"{cpu.get(k, 0) / s.requests_per_second * 1000:.2f}"
                    if s.requests_per_second
                    else "-"
                    for k in ("api", "postgres", "rabbitmq")
                ),
                f"{s.cpu_seconds / s.requests * 1000:.2f}" if s.requests else "-",
            ]
        ),
        f"{cpu.get('machine_busy', 0):.0%}",
    ]


def one_line(r: "TransportResult") -> str:
    s = r.summary
    return (
        f"{r.transport}: {s.requests_per_second:,.0f}/s, p50 {s.latency_ms['p50']:.1f} ms,"
        f" p99 {s.latency_ms['p99']:.1f} ms, answers {s.statuses}, errors {s.errors}"
        f" {s.first_error[:80]}"
    )


def passed(results: Sequence["TransportResult"]) -> bool:
    rates = {r.transport: r.summary for r in results}
    http, amqp = rates["HTTP"], rates["AMQP"]
    clean = amqp.errors == 0 and set(amqp.statuses) == {"SubmissionAccepted"}
    return clean and amqp.requests_per_second >= http.requests_per_second


def _ratio(results: Sequence["TransportResult"]) -> float:
    rates = {r.transport: r.summary.requests_per_second for r in results}
    return rates["AMQP"] / rates["HTTP"] if rates["HTTP"] else 0.0


def write(results: Sequence["TransportResult"], path: Path) -> str:
    body = [
        markdown_table(_COLUMNS, [_row(r) for r in results]),
        "",
        f"Target: AMQP submissions per second at least the HTTP rate: {met(passed(results))}"
        f" (AMQP / HTTP: {_ratio(results):.2f}).",
        "",
        "- Both: closed loops (each of `in flight` sends its next submission when the answer to"
        " the last is in), measured after 1 s of warm-up; every answer a new queued backtest."
        " The three take turns in rounds (HTTP, HTTP with a key, AMQP, again), so a neighbour's"
        " load weighs on all; each row sums its rounds, its latency percentiles the median of"
        " the rounds' (max: the largest). Each turn starts from no jobs: once relayed, a turn's"
        " jobs are deleted (the API looks at every queued job once a second).",
        "- HTTP: `POST /api/v1/backtests`, latency from sending to reading the 202; with"
        " Idempotency-Key: each request a key of its own (claimed with its job's id in the job's"
        " transaction, as an AMQP submission's `id` is).",
        "- AMQP: `SubmitBacktest` published (persistent, with a publisher confirm) to the submit"
        " exchange with `reply_to`; latency from the publish to the `SubmissionAccepted` read.",
        "- CPU cores: average cores each process used during the load (postgres and rabbitmq:"
        " all their processes, whoever else uses those servers meanwhile included); CPU ms per"
        " submission: CPU time over answers, the figure least moved by neighbours (producer:"
        " the load generator's own, warm-up included; the AMQP one straight through aiormq);"
        " machine busy: share of all cores busy, anything else included. On 2 cores every"
        " process's CPU is taken from the others'.",
        "- An AMQP submission also costs the broker two writes the HTTP one does not (the quorum"
        " queue's, the confirmed reply), and the producer a confirmed publish and a reply read."
        " The API reads deliveries straight from aiormq; the submissions in hand at once share"
        " their checks' identical reads, commit together (per group one transaction, one key"
        " claim and one round trip writing the jobs; two groups at a time) and are"
        " acknowledged in runs.",
    ]
    payload = {"results": [r.as_dict() for r in results], "passed": passed(results)}
    return write_report(path, "Submissions benchmark", body, payload)
