"""The optimization results against the target, with vectorbt's and raptorbt's ratios and
the speed-up of a second worker, as a table, Markdown and JSON."""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.engine.breakdown import Part, lines
from bench.support.report_files import markdown_table, met, write_report

PER_CORE_TARGET = 200e6  # bar-evaluations per second per core, ours (issue 27)
FLOOR_RATIO = 3.0  # at most this many times the hand-written loop's time
EXPRESSION_SHARE_TARGET = 0.6  # of ours' rate, the same grid as an expression (issue 27)
EXPRESSION_ROW = "ours, sma_cross as an expression"
QUEUE_SHARE_TARGET = 0.9  # of the in-process rate, one worker
TWO_WORKERS_TARGET = 1.9  # speed-up from one worker to two

_COLUMNS = ("engine", "sets x bars", "cores", "seconds", "M bar-evals/s", "per core", "note")


def _millions(value: float) -> str:
    return f"{value / 1e6:.1f}"


def _table_row(row: dict[str, Any]) -> list[str]:
    return [
        row["engine"],
        f"{row['parameter_sets']} x {row['bars']:,}",
        str(row["cores"]),
        f"{row['seconds']:.2f}",
        _millions(row["bar_evaluations_per_second"]),
        _millions(row["bar_evaluations_per_second_per_core"]),
        row["note"],
    ]


def summary(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The target check, ours against vectorbt, and what the queue and a second worker give."""
    by_name = {r["engine"]: r for r in rows}
    ours, vectorbt = by_name["ours"], by_name["vectorbt"]
    floor = by_name.get("hand-written numba loop")
    queue = {r["workers"]: r for r in rows if "workers" in r}
    per_core = ours["bar_evaluations_per_second_per_core"]
    result: dict[str, Any] = {
        "target": {
            "target": f"ours >= {PER_CORE_TARGET / 1e6:g} M bar-evaluations/s per core",
            "measured": per_core,
            "met": per_core >= PER_CORE_TARGET,
        },
        "times_faster_than_vectorbt": round(vectorbt["seconds"] / ours["seconds"], 1),
    }
    raptorbt = by_name.get("raptorbt 0.13")
    if raptorbt is not None:
        result["times_faster_than_raptorbt"] = round(raptorbt["seconds"] / ours["seconds"], 1)
    if floor is not None:
        ratio = ours["seconds"] / floor["seconds"]
        result["times_the_floor"] = {
            "measured": round(ratio, 2),
            "needed": f"<= {FLOOR_RATIO:g}x",
            "met": ratio <= FLOOR_RATIO,
        }
    expression = by_name.get(EXPRESSION_ROW)
    if expression is not None:
        share = ours["seconds"] / expression["seconds"]
        result["expression_share_of_ours"] = {
            "measured": round(share, 2),
            "needed": f">= {EXPRESSION_SHARE_TARGET:.0%}",
            "met": share >= EXPRESSION_SHARE_TARGET,
            "by_cpu_time": round(ours["kernel_cpu_seconds"] / expression["kernel_cpu_seconds"], 2),
        }
    if 1 in queue:
        one = queue[1]
        result["queue_1_worker_share_of_ours"] = round(ours["seconds"] / one["seconds"], 2)
        same = one.get("in_process_same_inputs_seconds")
        if same is not None:
            result["queue_1_worker_share_of_same_inputs"] = round(same / one["seconds"], 2)
        # The in-process run is the kernel's CPU for the same sets (on the same inputs where
        # measured); the rest is overhead.
        kernel_cpu = one.get("in_process_same_inputs_cpu_seconds", ours.get("kernel_cpu_seconds"))
        if one.get("chunks") and kernel_cpu is not None:
            outside = one["engine_cpu_seconds"] - kernel_cpu
            result["per_chunk_overhead_cpu_ms"] = round(1000 * outside / one["chunks"], 1)
            result["chunks"] = one["chunks"]
    if 1 in queue and 2 in queue:
        result["speed_up_1_to_2_workers"] = round(queue[1]["seconds"] / queue[2]["seconds"], 2)
    return result


def _summary_lines(s: dict[str, Any]) -> list[str]:
    target = s["target"]
    lines = [
        f"- {target['target']}: {_millions(target['measured'])} M: {met(target['met'])}",
        f"- ours against vectorbt: {s['times_faster_than_vectorbt']:g}x faster",
    ]
    if "times_faster_than_raptorbt" in s:
        lines.append(f"- ours against raptorbt: {s['times_faster_than_raptorbt']:g}x faster")
    if "times_the_floor" in s:
        floor = s["times_the_floor"]
        lines.append(
            f"- ours against the hand-written loop: {floor['measured']:g}x its time"
            f" (needs {floor['needed']}): {met(floor['met'])}"
        )
    if "expression_share_of_ours" in s:
        share = s["expression_share_of_ours"]
        lines.append(
            f"- the same grid as an expression strategy: {share['measured']:.0%} of ours' rate"
            f" (needs {share['needed']}): {met(share['met'])}; by CPU time"
            f" {share['by_cpu_time']:.0%}"
        )
    if "queue_1_worker_share_of_ours" in s:
        lines.append(
            "- queue vs in-process, 1 worker: "
            f"{s['queue_1_worker_share_of_ours']:.0%} of ours' in-process rate"
            f" (target {QUEUE_SHARE_TARGET:.0%})"
        )
    if "queue_1_worker_share_of_same_inputs" in s:
        share = s["queue_1_worker_share_of_same_inputs"]
        lines.append(
            "- queue vs in-process on the same inputs (the perpetual's market a worker loads,"
            f" which ours' row runs without), 1 worker: {share:.0%}"
            f" (target {QUEUE_SHARE_TARGET:.0%})"
        )
    if "per_chunk_overhead_cpu_ms" in s:
        lines.append(
            f"- per-chunk overhead, 1 worker: {s['per_chunk_overhead_cpu_ms']:g} ms of CPU outside"
            f" the kernel per chunk ({s['chunks']} chunks; engine and pool CPU during the job"
            " less the in-process run's CPU on the same inputs)"
        )
    if "speed_up_1_to_2_workers" in s:
        lines.append(
            f"- speed-up from 1 to 2 workers: {s['speed_up_1_to_2_workers']:.2f}x"
            f" (target {TWO_WORKERS_TARGET:g}x)"
        )
    return lines


def write(rows: Sequence[dict[str, Any]], path: Path, parts: Sequence[Part] = ()) -> str:
    """`parts`: one grid set, whole and by part (bench/engine/breakdown.py)."""
    result = summary(rows)
    where = ["Where the time goes:", "", *lines("one grid set", list(parts)), ""]
    body = [
        markdown_table(_COLUMNS, [_table_row(r) for r in rows]),
        "",
        *_summary_lines(result),
        "",
        *(where if parts else []),
        "- bar-evaluations/s: parameter sets x bars / seconds; per core: over the cores the row"
        " uses (one pool process per engine worker, which share the machine with PostgreSQL"
        " and RabbitMQ).",
        "- ours and vectorbt: best of a few runs in this process after their JIT warm-up;"
        " through the queue: the job's `finished_at - created_at` in the database, best of as"
        " many jobs in a row, once the workers consume the chunk queue.",
    ]
    breakdown = [{"part": p.name, "cpu_seconds": round(p.seconds, 5)} for p in parts]
    payload = {"rows": list(rows), **result, "breakdown": breakdown}
    return write_report(path, "Optimization benchmark", body, payload)
