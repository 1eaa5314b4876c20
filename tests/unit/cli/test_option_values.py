"""The command line's strategy options: parameters, saved ids, definition files (the request
fields' option text: test_schema_values.py)."""

import json
from pathlib import Path

import click
import pytest

from cli import option_values
from cli.request_options import strategy_ref


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
