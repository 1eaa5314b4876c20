"""The options of a request, one per field of cli/request_schema.json (named like the field:
`--fee-rate` sets `fee_rate`), and the request body they make. Only what the user gave is
sent, so every default is the API's; a field the API adds gets its option when the schema
file is regenerated."""

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from cli import option_values
from cli.request_schema import ALIASES, NEGATIONS, RequestField
from cli.schema_values import (
    Schema,
    Unparsable,
    describe,
    is_array,
    is_boolean,
    map_member,
    parse,
)

F = TypeVar("F", bound=Callable[..., Any])

UUID_PATTERN = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)

STRATEGY_OPTIONS = [
    click.option("--strategy", help="a built-in, plugin or saved strategy's name, or a saved id"),
    click.option(
        "--param",
        "params",
        multiple=True,
        metavar="NAME=VALUE",
        help="a strategy parameter (repeatable)",
    ),
    click.option(
        "--definition",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="an expression strategy's definition (a JSON or YAML file) instead of --strategy",
    ),
]


class SchemaText(click.ParamType[Any]):
    """Option text read as the value its field's schema describes (cli/schema_values.py)."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.name = describe(schema)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return parse(self.schema, value)
        except Unparsable as exc:
            self.fail(f"{value!r}: {exc}", param, ctx)


class MapEntry(click.ParamType[Any]):
    """`NAME=VALUE`: one entry of a map field (`--grid fast=5,10,20`)."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.name = f"NAME={describe(schema)}"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        name, sep, text = value.partition("=")
        if not sep or not name.strip():
            self.fail(f"{value!r} is not NAME=VALUE", param, ctx)
        try:
            return name.strip(), parse(self.schema, text)
        except Unparsable as exc:
            self.fail(f"{value!r}: {exc}", param, ctx)


def field_options(fields: list[RequestField]) -> list[Callable[[F], F]]:
    return [_option(field) for field in fields]


def _option(field: RequestField) -> Callable[[F], F]:
    schema = field.schema
    help_text = _help(schema)
    names = [field.option, *ALIASES.get(field.name, ())]
    if is_boolean(schema):
        negative = "--" + NEGATIONS.get(field.name, "no-" + field.name).replace("_", "-")
        flag = f"{field.option}/{negative}"
        return click.option(flag, field.dest, default=None, help=help_text)
    if (mapping := map_member(schema)) is not None:
        entry = MapEntry(mapping["additionalProperties"])
        return click.option(
            *names,
            field.dest,
            type=entry,
            multiple=True,
            required=field.required,
            metavar=entry.name,
            help=f"{help_text} (repeatable)".strip(),
        )
    text = SchemaText(schema)
    return click.option(
        *names,
        field.dest,
        type=text,
        multiple=any(is_array(m) for m in _members(schema)),
        required=field.required,
        metavar=text.name,
        help=help_text,
    )


def _members(schema: Schema) -> list[Schema]:
    return schema.get("anyOf") or schema.get("oneOf") or [schema]


def _help(schema: Schema) -> str:
    parts = [schema.get("description", "").rstrip(".")]
    described = "default" in parts[0].lower()
    if schema.get("default") not in (None, []) and not described:
        default = schema["default"]
        shown = default if isinstance(default, str) else json.dumps(default)
        parts.append(f"default {shown}")
    return "; ".join(part for part in parts if part)


def request_body(
    fields: list[RequestField], given: dict[str, Any], strategy_at: tuple[str, ...] | None
) -> dict[str, Any]:
    """The request the options in `given` make (each consumed from it): the fields given, and
    the strategy (from --strategy / --definition and --param) at `strategy_at`."""
    body: dict[str, Any] = {}
    for field in fields:
        value = given.pop(field.dest)
        if value is None or value == ():
            continue
        if map_member(field.schema) is not None:
            value = dict(value)
        elif isinstance(value, tuple):  # a repeatable list option: its lists joined
            value = [
                item for part in value for item in (part if isinstance(part, list) else [part])
            ]
        _place(body, field.path, value)
    if strategy_at is not None:
        strategy = strategy_ref(given.pop("strategy"), given.pop("definition"))
        strategy_params = option_values.params(given.pop("params"))
        if strategy_params:
            strategy["params"] = strategy_params
        _place(body, (*strategy_at, "strategy"), strategy)
    return body


def _place(body: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for name in path[:-1]:
        body = body.setdefault(name, {})
    body[path[-1]] = value


def with_options(options: list[Callable[[F], F]]) -> Callable[[F], F]:
    def decorate(command: F) -> F:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def strategy_ref(strategy: str | None, definition: Path | None) -> dict[str, Any]:
    if (strategy is None) == (definition is None):
        raise click.UsageError("give --strategy NAME or --definition FILE (one of them)")
    if definition is not None:
        return {"definition": option_values.definition_file(definition)}
    assert strategy is not None
    return {"id": strategy} if UUID_PATTERN.match(strategy) else {"name": strategy}
