"""The command line's tables: numbers, nested values and long grids as a user reads them."""

import io
from typing import Any

from rich.console import Console

from cli import tables


def rendered(table: Any) -> str:
    out = io.StringIO()
    Console(file=out, width=200).print(table)
    return out.getvalue()


def test_cells() -> None:
    assert tables.cell(None) == "-"
    assert tables.cell(0.123456789) == "0.123457"
    assert tables.cell(3) == "3"
    assert tables.cell({"atr": 2}) == '{"atr":2}'


def test_an_optimization_summary_shortens_long_value_lists() -> None:
    job = {
        "id": "0b6f6c8e-6a1f-4c4e-9d6e-1f2a3b4c5d6e",
        "status": "running",
        "kind": "grid",
        "request": {
            "backtest": {
                "category": "linear",
                "symbol": "BTCUSDT",
                "interval": "60",
                "strategy": {"name": "sma_cross", "params": {"fast": 10, "slow": 30}},
            },
            "param_grid": {"fast": list(range(2, 41)), "trailing_stop": [0.02, {"atr": 2}]},
            "objective": "sharpe",
        },
        "progress": {"done": 7, "total": 78},
        "skipped": 0,
        "best": None,
        "error": None,
    }
    text = rendered(tables.optimization_summary(job))
    assert 'fast=2..40 (39 values); trailing_stop=[0.02,{"atr":2}]' in text
    assert "7/78" in text and "sma_cross" in text and "fast=10" not in text
