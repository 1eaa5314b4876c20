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

from domain.strategies.entry import StrategyEntry
from domain.strategies.expressions import (
    FUNCTIONS,
    RESERVED_NAMES,
    Call,
    ExpressionError,
    Node,
    Param,
    Scope,
    holds_for,
    nodes,
    parse_rule,
    window_value,
    windows_text,
)
from domain.strategies.params import ParamSpec

PARAM_NAME = re.compile(r"[a-z][a-z0-9_]{0,29}")
# Backtest fields an optimization's param_grid may vary beside a strategy's parameters.
RESERVED_PARAM_NAMES = frozenset(
    {"stop_loss", "take_profit", "trailing_stop", "position_size", "leverage"}
)
RULE_FIELDS = ("long_entry", "long_exit", "short_entry", "short_exit")
DEFINITION_FIELDS = frozenset({"params", "rules", "description", *RULE_FIELDS})
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

    def entry(self, name: str) -> StrategyEntry:
        """This definition as a registry entry of kind `expression`."""
        position = {
            field: rule.text for field in RULE_FIELDS if (rule := getattr(self, field)) is not None
        }
        return StrategyEntry(
            "expression", name, self.description, self.params, self.rules, position
        )

    def rule_nodes(self) -> dict[str, Node]:
        """The position rules present, by field name."""
        return {
            name: rule.node for name in RULE_FIELDS if (rule := getattr(self, name)) is not None
        }

    def as_json(self) -> dict[str, Any]:
        """The definition as a client would write it, defaults spelled out."""
        return {
            "description": self.description,
            "params": {p.name: _param_json(p) for p in self.params},
            "rules": [r.text for r in self.rules],
            **{
                name: rule.text if rule else None
                for name in RULE_FIELDS
                for rule in [getattr(self, name)]
            },
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
    definition = Definition(params, rules, description=description, **position)
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
            kinds = FUNCTIONS[call.function].args
            for arg, kind in zip(call.args, kinds, strict=True):
                if kind == "x":
                    continue
                minimum = 0 if kind == "k" else 1
                if window_value(arg, params, minimum) is None:
                    what = "shift" if kind == "k" else "window"
                    raise ExpressionError(
                        field,
                        f"the {what} of {call.function} must be an integer in "
                        f"{windows_text(minimum)} at parameters {dict(params)}",
                    )


def longest_window(definition: Definition, params: Mapping[str, float]) -> int:
    """The longest window or shift of any rule at these parameters (0 with none)."""
    longest = 0
    for node in definition.rule_nodes().values():
        for call in (n for n in nodes(node) if isinstance(n, Call)):
            for arg, kind in zip(call.args, FUNCTIONS[call.function].args, strict=True):
                if kind != "x":
                    longest = max(longest, window_value(arg, params, 0) or 0)
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
    if name in RESERVED_NAMES or name in RESERVED_PARAM_NAMES:
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
