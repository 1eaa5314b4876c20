"""The robustness results against the target (under 2 s on top of the grid), as Markdown and
JSON."""

from pathlib import Path
from typing import Any

from bench.support.report_files import markdown_table, met, write_report

TARGET_SECONDS = 2.0


def summary(result: dict[str, Any]) -> dict[str, Any]:
    on_top = result["gather_seconds"] + result["combine_seconds"]
    return {
        "target": {
            "target": f"robustness under {TARGET_SECONDS:g} s on top of the grid",
            "measured": round(on_top, 3),
            "met": on_top < TARGET_SECONDS,
        }
    }


def write(result: dict[str, Any], path: Path) -> str:
    s = summary(result)
    mib = 1024 * 1024
    rows = [
        ["the grid (gathering included)", f"{result['grid_seconds']:.2f} s", ""],
        ["gathering: moments and block sums", f"{result['gather_seconds']:.3f} s", "in chunks"],
        [
            f"combining: dsr and pbo ({result['combinations']:,} combinations)",
            f"{result['combine_seconds']:.3f} s",
            f"peak {result['combine_peak_bytes'] / mib:.1f} MiB",
        ],
        [
            "stored per-set statistics",
            "",
            f"{result['stored_bytes'] / 1024:.0f} KiB ({result['stored_bytes_per_set']:g} B a"
            f" set; the return matrix would be {result['return_matrix_bytes'] / mib:.0f} MiB)",
        ],
    ]
    target = s["target"]
    body = [
        f"{result['parameter_sets']} sets x {result['bars']:,} bars, {result['blocks']} blocks",
        "",
        markdown_table(("part", "time", "memory"), rows),
        "",
        f"- {target['target']}: {target['measured']:.3f} s: {met(target['met'])}",
        f"- the figures on this random walk: {result['robustness']}",
    ]
    return write_report(path, "Robustness benchmark", body, {**result, **s})
