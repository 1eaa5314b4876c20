"""Turning option text into the JSON values of a request: `NAME=VALUE` parameters, stops
(`0.05` or `atr:2`), grid entries (`V1,V2,...` or `start:stop:step`) and definition files
(JSON or YAML)."""

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


def stop(text: str, option: str = "--grid") -> Any:
    """A fraction of the price, or `atr:K` for K ATRs from the fill (`{"atr": K}`)."""
    kind, sep, multiple = text.partition(":")
    if sep and kind.strip().lower() == "atr":
        return {"atr": _number(multiple, text, option)}
    return _number(text, text, option)


def grid_entry(text: str) -> tuple[str, Any]:
    """`NAME=V1,V2,...` (a list; a stop may be `atr:K`) or `NAME=start:stop:step` (a range)."""
    name, value = assignment(text, "--grid")
    bounds = value.split(":")
    if len(bounds) == 3:
        start, stop_, step = (_number(bound, text, "--grid") for bound in bounds)
        return name, {"start": start, "stop": stop_, "step": step}
    return name, [_grid_value(item.strip()) for item in value.split(",")]


def space_entry(text: str) -> tuple[str, Any]:
    """A Bayesian search's `NAME=LOW:HIGH`, `NAME=LOW:HIGH:STEP` or `NAME=LOW:HIGH:log` (a
    range), or `NAME=V1,V2,...` (the values to choose from)."""
    name, value = assignment(text, "--space")
    bounds = value.split(":")
    if len(bounds) not in (2, 3):
        return name, [_grid_value(item.strip()) for item in value.split(",")]
    low, high = (_number(bound, text, "--space") for bound in bounds[:2])
    entry: dict[str, Any] = {"low": low, "high": high}
    if len(bounds) == 3:
        if bounds[2].strip().lower() == "log":
            entry["log"] = True
        else:
            entry["step"] = _number(bounds[2], text, "--space")
    return name, entry


def _grid_value(text: str) -> Any:
    return stop(text) if text.lower().startswith("atr:") else json_value(text)


def _number(text: str, whole: str, option: str) -> int | float:
    value = json_value(text.strip())
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise click.BadParameter(f"{text!r} in {whole!r} is not a number", param_hint=option)
    return value


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


def time_value(text: str) -> str | int:
    """ISO-8601 as given, or epoch milliseconds as a number."""
    return int(text) if text.isdigit() else text
