"""Results as Markdown and JSON under bench/results/, each stamped with the machine and commit."""

import json
import os
import platform
import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).parents[1] / "results"


def report_path(name: str) -> Path:
    return RESULTS_DIR / name


def machine() -> dict[str, Any]:
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "git_commit": _git_commit(),
    }


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=RESULTS_DIR.parent,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.strip()


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = [
        "| " + " | ".join(columns) + " |",
        "|" + "|".join("---" for _ in columns) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def met(passed: bool) -> str:
    return "met" if passed else "NOT met"


def write_report(path: Path, title: str, body: Sequence[str], payload: dict[str, Any]) -> str:
    """Write `path`.md (title, machine line, body) and `path`.json (machine and payload)."""
    meta = machine()
    text = "\n".join(
        [
            f"# {title}",
            "",
            f"{meta['date']}, {meta['nproc']} CPUs, load average {meta['load_average']},"
            f" Python {meta['python']}, commit {meta['git_commit']}.",
            "",
            *body,
            "",
        ]
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.with_suffix(".md").write_text(text)
    path.with_suffix(".json").write_text(json.dumps({**meta, **payload}, indent=2) + "\n")
    return text
