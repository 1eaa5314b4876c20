"""The one description of the requests the command line sends: cli/request_schema.json, the
API's request schemas as its OpenAPI document gives them (written by `make cli-schema`, from
devtools/cli_request_schema.py), read here as the fields an option may set.

A field is a path into the request body: `leverage` of a backtest, `backtest.leverage` of an
optimization. The members of a few objects are options of their own (`--train-bars` for
`walk_forward.train_bars`); every other field, nested or not, is one option whose text is read
by cli/schema_values.py."""

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from cli.schema_values import Schema, is_object, members, nullable

SCHEMA_FILE = Path(__file__).with_name("request_schema.json")

# Objects whose members are options of their own, not one option for the whole object.
FLATTENED = frozenset({"backtest", "walk_forward", "portfolio", "search"})
# Fields with options written by hand: the strategy (--strategy, --param, --definition).
OWN_OPTIONS = frozenset({"strategy"})
# Options not named like their field.
OPTION_NAMES = {"param_grid": "grid", "param_space": "space"}
ALIASES = {"maintenance_margin_rate": ("--mmr",)}
# A boolean's `--no-NAME` where another word reads better.
NEGATIONS = {"anchored": "rolling"}


@dataclass(frozen=True)
class RequestField:
    path: tuple[str, ...]
    schema: Schema
    required: bool

    @property
    def name(self) -> str:
        return self.path[-1]

    @property
    def option(self) -> str:
        return "--" + OPTION_NAMES.get(self.name, self.name).replace("_", "-")

    @property
    def dest(self) -> str:
        """The option's keyword argument: unique, and a Python identifier."""
        return "__".join(self.path)


@cache
def request_schemas() -> dict[str, Schema]:
    schemas: dict[str, Schema] = json.loads(SCHEMA_FILE.read_text())
    return schemas


def job_statuses() -> tuple[list[str], list[str]]:
    """(every job status, those a job ends in), as the API's OpenAPI document lists them."""
    statuses: dict[str, list[str]] = json.loads(SCHEMA_FILE.read_text())["job_statuses"]
    return statuses["all"], statuses["terminal"]


def request_fields(kind: str, computed: frozenset[str] = frozenset()) -> list[RequestField]:
    """The fields of a `kind` request (backfill, backtest, optimization) that options set;
    those named in `computed` are never required (the command fills them in)."""
    return fields_of(request_schemas()[kind], computed)


def fields_of(schema: Schema, computed: frozenset[str] = frozenset()) -> list[RequestField]:
    """The fields of a request of this (inlined) schema."""
    return list(_walk(schema, (), True, computed))


def enum_of(kind: str, name: str) -> list[Any]:
    """The values a top-level field of a `kind` request takes (empty when it is no enum)."""
    schema = request_schemas()[kind]["properties"].get(name, {})
    return [value for member in members(schema) for value in member.get("enum", [])]


def object_member(schema: Schema) -> Schema | None:
    """The object a field holds, when it holds one (or null)."""
    objects = [m for m in members(schema) if is_object(m) and m.get("properties")]
    return objects[0] if len(objects) == 1 else None


def _walk(schema: Schema, prefix: tuple[str, ...], required: bool, computed: frozenset[str]) -> Any:
    needed = set(schema.get("required", []))
    for name, prop in (schema.get("properties") or {}).items():
        path = (*prefix, name)
        if name in OWN_OPTIONS:
            continue
        inner = object_member(prop)
        is_required = required and name in needed and name not in computed
        if name in FLATTENED and inner is not None:
            yield from _walk(inner, path, is_required and not nullable(prop), computed)
        else:
            yield RequestField(path, prop, is_required)
