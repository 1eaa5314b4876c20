"""Turning option text into the JSON values of a strategy: `NAME=VALUE` parameters and
definition files (JSON or YAML). The request fields' values: cli/schema_values.py."""

import json
from pathlib import Path
from typing import Any

import click
import yaml


def json_value(text: str) -> Any:
    """`10` is an integer, `0.5` a float, `true` a boolean, anything that is not JSON a string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def assignment(text: str, option: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise click.BadParameter(f"{text!r} is not NAME=VALUE", param_hint=option)
    return name.strip(), value.strip()


def params(assignments: tuple[str, ...]) -> dict[str, Any]:
    pairs = (assignment(text, "--param") for text in assignments)
    return {name: json_value(value) for name, value in pairs}


def definition_file(path: Path) -> dict[str, Any]:
    """An expression strategy's definition: a JSON object, or YAML in a .yaml or .yml file."""
    hint = "--definition"
    try:
        text = path.read_text()
    except OSError as exc:
        raise click.BadParameter(f"cannot read {path}: {exc.strerror}", param_hint=hint) from None
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            definition = yaml.safe_load(text)
        else:
            definition = json.loads(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise click.BadParameter(f"{path} does not parse: {exc}", param_hint=hint) from None
    if not isinstance(definition, dict):
        raise click.BadParameter(f"{path} holds no object", param_hint=hint)
    return definition
