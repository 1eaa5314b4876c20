"""The UI results as Markdown and JSON."""

from pathlib import Path
from typing import TYPE_CHECKING

from bench.support.report_files import markdown_table, met, write_report

if TYPE_CHECKING:
    from bench.ui.run import UiResult

TARGET_SECONDS = 2.0


def write(result: "UiResult", path: Path) -> str:
    columns = ("bars", "trades", "loads", "best s", "median s", "target", "report KiB", "report s")
    row = [
        f"{result.bars:,}",
        f"{result.trades:,}",
        str(result.loads),
        f"{result.best_seconds:.3f}",
        f"{result.median_seconds:.3f}",
        f"< {TARGET_SECONDS:g} s: {met(result.median_seconds < TARGET_SECONDS)}",
        f"{result.report_bytes / 1024:.1f}",
        f"{result.report_seconds:.3f}",
    ]
    body = [
        markdown_table(columns, [row]),
        "",
        "- seconds: from `page.goto('/backtests/{id}')` in a fresh headless Chromium page until"
        " the candles, equity and drawdown charts and the trade table are drawn; the page reads"
        " one window of 1,000 candles, the equity downsampled to 2,000 points and up to 1,000"
        " trades, whatever the length of the run.",
        "- report: `GET /api/v1/backtests/{id}/report`, one self-contained HTML file.",
    ]
    return write_report(path, "UI benchmark", body, {"result": result.as_dict()})
