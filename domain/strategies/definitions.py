"""Expression strategy definitions: a JSON object checked into parameters and parsed rules.

What a client sends as `strategy.definition` or saves under a name; the API checks it here
and the engine builds its rule evaluator from the same parsed form.
"""

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from domain.execution.settings import GRIDABLE_FIELDS, PORTFOLIO_GRID_FIELD
from domain.market.intervals import interval_minutes
from domain.strategies.entry import StrategyEntry
from domain.strategies.expressions import (
    FUNCTIONS,
    FUNDING_SERIES,
    MAX_WINDOW,
    PERP_SERIES,
    RESERVED_NAMES,
    Call,
    ExpressionError,
    Node,
    Param,
    Scope,
    Series,
    Text,
    children,
    holds_for,
    nodes,
    parse_rule,
    window_value,
)
from domain.strategies.params import ParamSpec

PARAM_NAME = re.compile(r"[a-z][a-z0-9_]{0,29}")
# An inline definition's optional label, shown as its job's `strategy_name`.
DEFINITION_NAME = re.compile(r"[a-z][a-z0-9_]{0,49}")
RULE_FIELDS = ("long_entry", "long_exit", "short_entry", "short_exit")
# The optional numeric rule: each entry's size as a fraction of `position_size`.
SIZE_FIELD = "size"
DEFINITION_FIELDS = frozenset({"name", "params", "rules", "description", SIZE_FIELD, *RULE_FIELDS})
MAX_PARAMS = 20
MAX_RULES = 20
INT64_MAX = 2**63 - 1


@dataclass(frozen=True)
class ParsedRule:
    """A rule as written and as parsed; over parameters only, it is a strategy's own rule."""

    text: str
    node: Node

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(n.name for n in nodes(self.node) if isinstance(n, Param)))

    @property
    def message(self) -> str:
        return f"breaks the rule {self.text}"

    def holds(self, params: Mapping[str, float]) -> bool:
        return holds_for(self.node, params)

    def as_json(self) -> dict[str, Any]:
        return {"rule": self.text, "message": self.message}


@dataclass(frozen=True)
class Definition:
    params: tuple[ParamSpec, ...]
    rules: tuple[ParsedRule, ...]
    long_entry: ParsedRule | None
    long_exit: ParsedRule | None
    short_entry: ParsedRule | None
    short_exit: ParsedRule | None
    description: str = ""
    name: str | None = None  # a label; what runs does not depend on it
    size: ParsedRule | None = None

    def entry(self, name: str) -> StrategyEntry:
        """This definition as a registry entry of kind `expression`."""
        position = {
            field: rule.text
            for field in (*RULE_FIELDS, SIZE_FIELD)
            if (rule := getattr(self, field)) is not None
        }
        return StrategyEntry(
            "expression", name, self.description, self.params, self.rules, position
        )

    def rule_nodes(self) -> dict[str, Node]:
        """The position rules present and the size rule if given, by field name."""
        return {
            name: rule.node
            for name in (*RULE_FIELDS, SIZE_FIELD)
            if (rule := getattr(self, name)) is not None
        }

    def as_json(self) -> dict[str, Any]:
        """The definition as a client would write it, defaults spelled out (`name` only when
        given, so an unnamed definition's JSON, and its sha256, stay as they were)."""
        return {
            **({"name": self.name} if self.name is not None else {}),
            "description": self.description,
            "params": {p.name: _param_json(p) for p in self.params},
            "rules": [r.text for r in self.rules],
            **{
                name: rule.text if rule else None
                for name in RULE_FIELDS
                for rule in [getattr(self, name)]
            },
            # Only when given, so a definition without one keeps its canonical form.
            **({SIZE_FIELD: self.size.text} if self.size is not None else {}),
        }

    def canonical_json(self) -> str:
        return json.dumps(self.as_json(), sort_keys=True, separators=(",", ":"))


def parse_definition(raw: Any) -> Definition:
    """A checked definition, or ExpressionError at the field (relative to the definition)."""
    if not isinstance(raw, Mapping):
        raise ExpressionError("definition", "must be an object")
    unknown = sorted(set(raw) - DEFINITION_FIELDS)
    if unknown:
        allowed = ", ".join(sorted(DEFINITION_FIELDS))
        raise ExpressionError(unknown[0], f"unknown field; allowed: {allowed}")
    label = raw.get("name")
    if label is not None and (not isinstance(label, str) or not DEFINITION_NAME.fullmatch(label)):
        raise ExpressionError("name", "a strategy name matches [a-z][a-z0-9_]{0,49}")
    params = _params(raw.get("params", {}))
    description = raw.get("description") or ""
    if not isinstance(description, str) or len(description) > 500:
        raise ExpressionError("description", "must be a string of at most 500 characters")
    param_types: dict[str, Literal["int", "float"]] = {
        p.name: "int" if p.type is int else "float" for p in params
    }
    rules_raw = raw.get("rules", [])
    if not isinstance(rules_raw, list) or len(rules_raw) > MAX_RULES:
        raise ExpressionError("rules", f"must be a list of at most {MAX_RULES} expressions")
    param_scope = Scope(param_types, allow_series=False)
    rules = tuple(
        ParsedRule(text, parse_rule(text, f"rules.{i}", param_scope))
        for i, text in enumerate(rules_raw)
    )
    for i, rule in enumerate(rules):
        if any(isinstance(n, Call) for n in nodes(rule.node)):
            raise ExpressionError(f"rules.{i}", "rules compare parameters; no functions")
    series_scope = Scope(param_types)
    position: dict[str, ParsedRule | None] = {}
    for name in RULE_FIELDS:
        text = raw.get(name)
        position[name] = (
            None if text is None else ParsedRule(text, parse_rule(text, name, series_scope))
        )
    if position["long_entry"] is None and position["short_entry"] is None:
        raise ExpressionError("long_entry", "give at least one of long_entry and short_entry")
    size_text = raw.get(SIZE_FIELD)
    size = (
        None
        if size_text is None
        else ParsedRule(size_text, parse_rule(size_text, SIZE_FIELD, series_scope, "number"))
    )
    definition = Definition(
        params, rules, description=description, name=label, size=size, **position
    )
    defaults = {p.name: p.default for p in params}
    broken = first_broken_rule(definition, defaults)
    if broken is not None:
        raise ExpressionError("params", f"the defaults break the rule {broken.text!r}")
    check_windows(definition, defaults)
    return definition


# Parsed definitions by their text: an optimizer asks for the same one for every chunk.
_parsed: dict[str, Definition] = {}


def definition_of(entry: StrategyEntry) -> Definition:
    """A built-in (or any entry with position rules) as a parsed definition."""
    key = repr((entry.position_rules, [p.as_json() for p in entry.params], entry.rules))
    if key not in _parsed:
        if len(_parsed) >= 256:
            _parsed.clear()
        _parsed[key] = _parse_entry(entry)
    return _parsed[key]


def _parse_entry(entry: StrategyEntry) -> Definition:
    return parse_definition(
        {
            "description": entry.description,
            "params": {p.name: _param_json(p) for p in entry.params},
            "rules": [r.as_json()["rule"] for r in entry.rules],
            **entry.position_rules,
        }
    )


def first_broken_rule(definition: Definition, params: Mapping[str, float]) -> ParsedRule | None:
    return next((r for r in definition.rules if not r.holds(params)), None)


def check_windows(definition: Definition, params: Mapping[str, float]) -> None:
    """ExpressionError at the rule whose window or shift is out of range at these parameters."""
    for field, node in definition.rule_nodes().items():
        for call in (n for n in nodes(node) if isinstance(n, Call)):
            function = FUNCTIONS[call.function]
            for arg, kind in zip(call.args, function.args, strict=True):
                if kind not in ("n", "k"):
                    continue
                minimum = 0 if kind == "k" else function.min_window
                if window_value(arg, params, minimum) is None:
                    what = "shift" if kind == "k" else "window"
                    raise ExpressionError(
                        field,
                        f"the {what} of {call.function} must be an integer in "
                        f"{minimum}..{MAX_WINDOW} at parameters {dict(params)} "
                        f"(column {call.column})",
                    )


def check_market(definition: Definition, interval: str, category: str, funding: bool) -> None:
    """ExpressionError at the rule that the request's market cannot serve: a perpetual's
    series on spot (or `funding_rate` with funding off), an `htf` interval that is not a
    longer multiple of the request's."""
    for field, node in definition.rule_nodes().items():
        check_rule_market(field, node, interval, category, funding)


def check_rule_market(field: str, node: Node, interval: str, category: str, funding: bool) -> None:
    """`check_market` for one rule (a portfolio's `rank`, say), the error at `field`."""
    for part in nodes(node):
        if isinstance(part, Series) and part.name in PERP_SERIES:
            if category == "spot":
                raise ExpressionError(
                    field, f"{part.name} exists for perpetuals (linear, inverse), not spot"
                )
            if part.name == FUNDING_SERIES and not funding:
                raise ExpressionError(
                    field, 'funding_rate needs "funding": true; this request has none'
                )
        if isinstance(part, Call) and part.function == "htf":
            longer = part.args[1]
            assert isinstance(longer, Text)
            if not is_longer_multiple(longer.value, interval):
                raise ExpressionError(
                    field,
                    f'the interval "{longer.value}" of htf must be longer than the '
                    f'request\'s "{interval}" and a multiple of it (column {part.column})',
                )


def is_longer_multiple(longer: str, interval: str) -> bool:
    """Whether every `longer` bar is made of whole `interval` bars, and is longer."""
    if longer == interval:
        return False
    if longer == "M":
        return interval != "W"
    minutes, base = interval_minutes(longer), interval_minutes(interval)
    return interval != "M" and minutes > base and minutes % base == 0


def longest_window(
    definition: Definition, params: Mapping[str, float], interval: str | None = None
) -> int:
    """The longest window or shift of any rule at these parameters (0 with none), in bars of
    `interval`: one inside `htf` counts its longer bars (with no interval given, as bars)."""
    longest = 0
    for node in definition.rule_nodes().values():
        longest = max(longest, _longest_in(node, params, interval, 1))
    return longest


def _longest_in(node: Node, params: Mapping[str, float], interval: str | None, scale: int) -> int:
    longest = 0
    if isinstance(node, Call):
        function = FUNCTIONS[node.function]
        if node.function == "htf" and interval is not None:
            longer = node.args[1]
            assert isinstance(longer, Text)
            ratio = interval_minutes(longer.value) / interval_minutes(interval)
            return _longest_in(node.args[0], params, interval, scale * max(1, math.ceil(ratio)))
        for arg, kind in zip(node.args, function.args, strict=True):
            if kind in ("n", "k"):
                longest = max(longest, (window_value(arg, params, 0) or 0) * scale)
    for child in children(node):
        longest = max(longest, _longest_in(child, params, interval, scale))
    return longest


def _params(raw: Any) -> tuple[ParamSpec, ...]:
    if not isinstance(raw, Mapping):
        raise ExpressionError("params", "must be an object of name -> parameter")
    if len(raw) > MAX_PARAMS:
        raise ExpressionError("params", f"at most {MAX_PARAMS} parameters")
    return tuple(param_spec(name, spec) for name, spec in raw.items())


def param_spec(name: str, raw: Any, prefix: str = "params") -> ParamSpec:
    """One declared parameter `{type, default, minimum, maximum, description?}`, checked."""
    field = f"{prefix}.{name}"
    if not PARAM_NAME.fullmatch(name):
        raise ExpressionError(field, "a parameter name matches [a-z][a-z0-9_]{0,29}")
    if name in RESERVED_NAMES or name in GRIDABLE_FIELDS or name == PORTFOLIO_GRID_FIELD:
        raise ExpressionError(field, f"{name!r} is reserved; choose another name")
    if not isinstance(raw, Mapping):
        raise ExpressionError(field, "must be an object with type, default, minimum, maximum")
    unknown = sorted(set(raw) - {"type", "default", "minimum", "maximum", "description"})
    if unknown:
        raise ExpressionError(f"{field}.{unknown[0]}", "unknown field")
    kind = raw.get("type")
    if kind not in ("int", "float"):
        raise ExpressionError(f"{field}.type", "must be 'int' or 'float'")
    python_type = int if kind == "int" else float
    values = {
        key: _bound(raw.get(key), f"{field}.{key}", python_type)
        for key in ("default", "minimum", "maximum")
    }
    if values["minimum"] > values["maximum"]:
        raise ExpressionError(f"{field}.minimum", "must not exceed maximum")
    if not values["minimum"] <= values["default"] <= values["maximum"]:
        raise ExpressionError(f"{field}.default", "must lie within minimum..maximum")
    description = raw.get("description") or ""
    if not isinstance(description, str) or len(description) > 200:
        raise ExpressionError(f"{field}.description", "must be a string of at most 200 characters")
    return ParamSpec(
        name, python_type, values["default"], values["minimum"], values["maximum"], description
    )


def _bound(value: Any, field: str, python_type: type[int] | type[float]) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ExpressionError(field, "must be a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise ExpressionError(field, "must be finite")
    if python_type is int:
        if isinstance(value, float) and not value.is_integer():
            raise ExpressionError(field, "must be an integer")
        if abs(value) > INT64_MAX:
            raise ExpressionError(field, "must fit in a 64-bit integer")
        return int(value)
    if abs(value) > 1.7976931348623157e308:
        raise ExpressionError(field, "must fit in a 64-bit float")
    return float(value)


def _param_json(p: ParamSpec) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": p.type.__name__,
        "default": p.default,
        "minimum": p.minimum,
        "maximum": p.maximum,
    }
    if p.description:
        out["description"] = p.description
    return out
