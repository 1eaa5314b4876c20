"""The command line's option text to request JSON: parameters, stops, grids, times."""

import json
from pathlib import Path

import click
import pytest

from cli import option_values
from cli.request_options import backtest_request, strategy_ref


def test_parameters_are_json_values_and_anything_else_a_string() -> None:
    assert option_values.params(("fast=10", "k = 2.5", "on=true", "name=abc", "x=")) == {
        "fast": 10,
        "k": 2.5,
        "on": True,
        "name": "abc",
        "x": "",
    }
    with pytest.raises(click.BadParameter, match="NAME=VALUE"):
        option_values.params(("10",))


def test_a_stop_is_a_fraction_or_atr_multiples() -> None:
    assert option_values.stop("0.05") == 0.05
    assert option_values.stop("atr:2") == {"atr": 2}
    assert option_values.stop("ATR:1.5") == {"atr": 1.5}
    for bad in ("atr:", "atr:x", "five", "true"):
        with pytest.raises(click.BadParameter):
            option_values.stop(bad)


def test_a_grid_entry_is_a_list_or_a_range() -> None:
    assert option_values.grid_entry("fast=5,10,20") == ("fast", [5, 10, 20])
    assert option_values.grid_entry("slow=30:100:10") == (
        "slow",
        {"start": 30, "stop": 100, "step": 10},
    )
    assert option_values.grid_entry("k=1.5:2.5:0.5") == (
        "k",
        {"start": 1.5, "stop": 2.5, "step": 0.5},
    )
    assert option_values.grid_entry("trailing_stop=0.02, atr:2") == (
        "trailing_stop",
        [0.02, {"atr": 2}],
    )
    with pytest.raises(click.BadParameter):
        option_values.grid_entry("slow=30:x:10")


def test_a_space_entry_is_a_range_with_a_step_or_log_or_a_list() -> None:
    assert option_values.space_entry("fast=2:50") == ("fast", {"low": 2, "high": 50})
    assert option_values.space_entry("k=0.5:4:0.1") == ("k", {"low": 0.5, "high": 4, "step": 0.1})
    assert option_values.space_entry("trailing_stop=0.01:0.2:log") == (
        "trailing_stop",
        {"low": 0.01, "high": 0.2, "log": True},
    )
    assert option_values.space_entry("slow=50,100,200") == ("slow", [50, 100, 200])
    for bad in ("fast=2:x", "fast=2:9:steps", "fast"):
        with pytest.raises(click.BadParameter):
            option_values.space_entry(bad)


def test_only_what_was_given_is_sent() -> None:
    given = {
        "category": "linear",
        "symbol": "BTCUSDT",
        "interval": "60",
        "start": "2024-01-01",
        "end": "1719705600000",
        "strategy": "sma_cross",
        "definition": None,
        "params": ("fast=10",),
        "initial_capital": None,
        "fee_rate": 0.001,
        "slippage_bps": None,
        "direction": None,
        "fill": "close",
        "position_size": None,
        "stop_loss": None,
        "take_profit": "0.1",
        "trailing_stop": "atr:3",
        "atr_period": None,
        "warmup_bars": "auto",
    }
    assert backtest_request(given) == {
        "category": "linear",
        "symbol": "BTCUSDT",
        "interval": "60",
        "start": "2024-01-01",
        "end": 1719705600000,
        "strategy": {"name": "sma_cross", "params": {"fast": 10}},
        "fee_rate": 0.001,
        "fill": "close",
        "take_profit": 0.1,
        "trailing_stop": {"atr": 3},
        "warmup_bars": "auto",
    }
    assert given == {}


def test_a_strategy_is_a_name_a_saved_id_or_a_definition(tmp_path: Path) -> None:
    saved = "0b6f6c8e-6a1f-4c4e-9d6e-1f2a3b4c5d6e"
    assert strategy_ref(saved, None) == {"id": saved}
    assert strategy_ref("my-preset", None) == {"name": "my-preset"}
    definition = tmp_path / "d.json"
    definition.write_text(json.dumps({"params": {}, "long_entry": "close > open"}))
    assert strategy_ref(None, definition) == {
        "definition": {"params": {}, "long_entry": "close > open"}
    }
    with pytest.raises(click.UsageError):
        strategy_ref("sma_cross", definition)
    with pytest.raises(click.UsageError):
        strategy_ref(None, None)
    definition.write_text("[1, 2]")
    with pytest.raises(click.BadParameter, match="holds no object"):
        strategy_ref(None, definition)


def test_a_definition_file_may_be_yaml(tmp_path: Path) -> None:
    as_yaml = tmp_path / "d.yaml"
    as_yaml.write_text(
        "params:\n"
        "  fast: {type: int, default: 10, minimum: 1, maximum: 500}\n"
        "long_entry: >-\n"
        "  crosses_above(ema(close, fast), ema(close, 30))\n"
        "  and rsi(close, 14) < 70\n"
    )
    assert option_values.definition_file(as_yaml) == {
        "params": {"fast": {"type": "int", "default": 10, "minimum": 1, "maximum": 500}},
        "long_entry": "crosses_above(ema(close, fast), ema(close, 30)) and rsi(close, 14) < 70",
    }
    as_yaml.write_text("params: [unclosed\n")
    with pytest.raises(click.BadParameter, match="does not parse"):
        option_values.definition_file(as_yaml)
