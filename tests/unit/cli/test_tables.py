"""The command line's tables: numbers, nested values and long grids as a user reads them."""

import io
from typing import Any

from rich.console import Console

from cli import tables
from cli.number_formats import formatted


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


def test_numbers_as_a_trader_reads_them() -> None:
    assert formatted("total_return", -0.96634) == "-96.63%"
    assert formatted("win_rate", 0.5) == "50.00%"
    assert formatted("max_drawdown", 0.0) == "0.00%"
    assert formatted("final_equity", 1234567.891) == "1,234,567.89"
    assert formatted("funding_paid", -419.5) == "-419.50"
    assert formatted("sharpe", 1.23456) == "1.23"
    assert formatted("sharpe", -0.012345) == "-0.0123"
    assert formatted("profit_factor", 1234.5) == "1,234.5"
    assert formatted("num_trades", 12345) == "12,345"
    assert formatted("entry_price", 42123.45) == "42,123.45"
    assert formatted("psr", None) == "-"
    assert formatted("anything", {"atr": 2}) == '{"atr":2}'


BACKTEST: dict[str, Any] = {
    "id": "5b1e0c2a-0000-4000-8000-000000000001",
    "status": "succeeded",
    "strategy_name": "donchian_rsi",
    "request": {
        "category": "linear",
        "symbol": "BTCUSDT",
        "interval": "60",
        "start": "2024-01-01T00:00:00Z",
        "end": "2024-06-30T23:00:00Z",
        "strategy": {"definition": {"params": {}}, "params": {"period": 20}},
        "initial_capital": 10000.0,
        "fee_rate": 0.00055,
        "direction": "long_short",
        "position_size": 0.5,
        "leverage": 10.0,
        "stop_loss": 0.02,
        "take_profit": None,
        "trailing_stop": {"atr": 3},
        "warmup_bars": "auto",
        "monte_carlo": {"runs": 2000, "seed": 7},
        "sizing": {"risk": 0.01, "method": "risk"},
        "entry_order": {"offset": 0.001, "type": "limit", "valid_bars": 3},
    },
    "metrics": {"total_return": -0.96634, "sharpe": -1.5, "max_drawdown": 0.97},
    "monte_carlo": {
        "runs": 2000,
        "seed": 7,
        "final_equity": {"p5": 100.0, "p25": 200.0, "p50": 336.6, "p75": 5000.0, "p95": 12000.5},
        "max_drawdown": {"p5": 0.5, "p25": 0.7, "p50": 0.9, "p75": 0.95, "p95": 0.99},
        "prob_loss": 0.875,
    },
    "created_at": "2026-12-07T08:00:00Z",
}


def test_a_backtest_shows_its_setup_and_monte_carlo() -> None:
    text = rendered(tables.backtest_summary(BACKTEST))
    for shown in (
        "donchian_rsi(period=20)",
        "BTCUSDT",
        "linear 60",
        "10x",
        "long_short",
        "50.00%",
        "stop_loss 2.00%, trailing_stop 3 ATR",
        "runs=2000, seed=7",  # a setting that differs from the API's default
        "risk: risk=1.00%",
        "limit: offset=0.10%, valid_bars=3",
    ):
        assert shown in text, shown
    assert "fee_rate" not in text and "warmup_bars" not in text  # the defaults
    mc = rendered(tables.monte_carlo_table(BACKTEST["monte_carlo"]))
    assert "2,000 runs, seed 7" in mc and "probability of a loss 87.50%" in mc
    assert "336.60" in mc and "12,000.50" in mc and "99.00%" in mc
    listed = rendered(tables.jobs_table("backtest", [BACKTEST], 1))
    assert "donchian_rsi" in listed and "10x long_short size 50.00%" in listed
    assert "total_return -96.63%" in listed and BACKTEST["id"] in listed


def test_an_optimization_shows_robustness_and_out_of_sample_metrics() -> None:
    robustness = {"trials": 78, "dsr": 0.4321, "pbo": 0.25, "prob_oos_loss": 0.5}
    text = rendered(tables.robustness_table(robustness))
    assert "78" in text and "43.21%" in text and "25.00%" in text and "50.00%" in text
    summary = {"windows": 5, "test_metrics": {"total_return": 0.1, "funding_paid": -419.5}}
    oos = rendered(tables.out_of_sample_table(summary))
    assert "out of sample (5 windows)" in oos and "10.00%" in oos and "-419.50" in oos


def test_compare_puts_setups_and_metrics_side_by_side() -> None:
    other = {
        **BACKTEST,
        "id": "7c000000-0000-4000-8000-000000000002",
        "strategy_name": "sma_cross",
        "request": {**BACKTEST["request"], "leverage": 1.0, "stop_loss": None},
        "metrics": {"total_return": 0.25, "sharpe": 1.1, "max_drawdown": 0.1},
    }
    text = rendered(tables.compare_table([("backtest", BACKTEST), ("backtest", other)]))
    lines = text.splitlines()
    leverage = next(line for line in lines if line.startswith("│ leverage"))
    assert "10x" in leverage and "1x" in leverage
    total = next(line for line in lines if line.startswith("│ total_return"))
    assert total.index("-96.63%") < total.index("25.00%")
    assert "5b1e0c2a" in text and "7c000000" in text


def test_monthly_returns_as_a_year_by_month_grid() -> None:
    items = [
        {"period": "2024-11", "return": 0.1},
        {"period": "2024-12", "return": -0.05},
        {"period": "2025-01", "return": 0.02},
    ]
    text = rendered(tables.returns_table("month", items))
    row_2024 = next(line for line in text.splitlines() if line.startswith("│ 2024"))
    # 1.1 x 0.95 - 1 = 4.5 %: the year compounds its months.
    assert row_2024.split("│")[-2].strip() == "4.50%"
    assert "10.00%" in row_2024 and "-5.00%" in row_2024
    weekly = rendered(tables.returns_table("week", [{"period": "2025-W01", "return": 0.01}]))
    assert "2025-W01" in weekly and "1.00%" in weekly


def test_a_portfolio_by_symbol() -> None:
    per_symbol: dict[str, dict[str, Any]] = {
        "BTCUSDT": {"num_trades": 3, "pnl": 1234.5, "exposure": 0.25, "win_rate": None},
        "ETHUSDT": {"num_trades": 1, "pnl": -10.0, "exposure": 0.1, "win_rate": 1.0},
    }
    text = rendered(tables.per_symbol_table(per_symbol))
    btc = next(line for line in text.splitlines() if "BTCUSDT" in line)
    eth = next(line for line in text.splitlines() if "ETHUSDT" in line)
    assert [c.strip() for c in btc.split("│")[1:-1]] == ["BTCUSDT", "3", "1,234.50", "25.00%", "-"]
    assert [c.strip() for c in eth.split("│")[1:-1]] == [
        "ETHUSDT",
        "1",
        "-10.00",
        "10.00%",
        "100.00%",
    ]


def test_a_bayesian_search_shows_its_space_trials_and_importance() -> None:
    job = {
        "id": "0b6f6c8e-6a1f-4c4e-9d6e-1f2a3b4c5d6e",
        "status": "succeeded",
        "kind": "bayes",
        "strategy_name": "sma_cross",
        "request": {
            "backtest": {
                "category": "linear",
                "symbol": "BTCUSDT",
                "interval": "60",
                "strategy": {"name": "sma_cross", "params": {"fast": 10, "slow": 30}},
            },
            "param_space": {
                "fast": {"low": 2, "high": 15, "step": None, "log": False},
                "slow": [20, 40],
                "trailing_stop": {"low": 0.01, "high": 0.2, "step": None, "log": True},
            },
            "search": {"trials": 12, "batch": 4, "sampler": "random", "seed": 1},
            "objective": "sharpe",
        },
        "progress": {"done": 12, "total": 12},
        "search": {"trials": 12, "rule_breaks": 3, "importance": {"fast": 0.75, "slow": 0.25}},
    }
    text = rendered(tables.optimization_summary(job))
    assert "fast=2..15; slow=[20,40]; trailing_stop=0.01..0.2 log" in text
    assert "trials=12; batch=4; sampler=random; seed=1" in text
    assert "12 (3 rule breaks asked)" in text
    assert "fast 75.00%, slow 25.00%" in text
    assert "sma_cross()" in text  # the varied parameters are the space's
    rows = [{"trial": 7, "params": {"fast": 3}, "metrics": {"sharpe": 1.5}}]
    top = rendered(tables.results_table(rows, "sharpe", 12))
    line = next(line for line in top.splitlines() if line.startswith("│ 1 "))
    assert [c.strip() for c in line.split("│")[1:4]] == ["1", "7", '{"fast":3}']
