"""Showing results: metrics and parameters as tables, the equity curve as a PNG chart."""

from pathlib import Path
from typing import Any

import matplotlib
import numpy as np

matplotlib.use("Agg")  # files only, no screen
import matplotlib.pyplot as plt
from domain.metrics.names import METRIC_KEYS
from rich.table import Table


def _number(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.6g}"
    return str(value)


def metrics_table(title: str, metrics: dict[str, Any]) -> Table:
    table = Table("metric", "value", title=title)
    for key in METRIC_KEYS:
        table.add_row(key, _number(metrics.get(key)))
    return table


def results_table(title: str, rows: list[dict[str, Any]], objective: str) -> Table:
    table = Table(
        "rank", "params", objective, "total_return", "max_drawdown", "trades", title=title
    )
    for rank, row in enumerate(rows, 1):
        m = row["metrics"]
        params = ", ".join(f"{k}={v}" for k, v in row["params"].items())
        table.add_row(
            str(rank),
            params,
            _number(m.get(objective)),
            _number(m.get("total_return")),
            _number(m.get("max_drawdown")),
            _number(m.get("num_trades")),
        )
    return table


def equity_chart(points: list[dict[str, Any]], title: str, path: Path) -> Path:
    times = np.array([p["time"].rstrip("Z") for p in points], dtype="datetime64[ms]")
    values = np.array([p["equity"] for p in points])
    figure, axes = plt.subplots(figsize=(10, 4.5), dpi=100)
    axes.plot(times, values, linewidth=1.2)
    axes.set_title(title)
    axes.set_ylabel("equity")
    axes.grid(alpha=0.3)
    figure.autofmt_xdate()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path
