"""One strategy a request may name: its kind, parameters, rules, and how they are checked."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from domain.strategies.params import ParamError, ParamRule, ParamSpec, ParamValue

if TYPE_CHECKING:
    from domain.strategies.plugins import Plugin

# How the engine gets an entry's targets: `builtin` from its own function bound to the
# entry's name (domain/targets/builtin_targets.py), `expression` from its position
# rules (domain/targets/expression_rules.py), `plugin` from the plugin file's
# `targets` (domain/targets/plugin_targets.py).
StrategyKind = Literal["builtin", "expression", "plugin"]
POSITION_RULES = ("long_entry", "long_exit", "short_entry", "short_exit")


@dataclass(frozen=True)
class StrategyEntry:
    kind: StrategyKind
    name: str
    description: str
    params: tuple[ParamSpec, ...]
    rules: tuple[ParamRule, ...] = ()
    # The position rules in the expression language, by name (POSITION_RULES); a built-in
    # has them too: the same targets as its own function, bar for bar.
    position_rules: Mapping[str, str] = field(default_factory=dict)
    # A plugin that failed to load: listed, but requests naming it are refused.
    error: str | None = None
    # The plugin behind an entry of kind `plugin`.
    plugin: "Plugin | None" = field(default=None, compare=False, repr=False)

    @property
    def available(self) -> bool:
        return self.error is None

    def param(self, name: str) -> ParamSpec | None:
        return next((p for p in self.params if p.name == name), None)

    def coerce_params(
        self, params: Mapping[str, Any], prefix: str = "strategy.params"
    ) -> dict[str, ParamValue]:
        """The given parameters type-checked and bounds-checked, without defaults or rules."""
        coerced: dict[str, ParamValue] = {}
        for key, value in params.items():
            param = self.param(key)
            if param is None:
                known = ", ".join(p.name for p in self.params)
                raise ParamError(
                    f"{prefix}.{key}", f"unknown parameter of {self.name}; known: {known}"
                )
            coerced[key] = param.coerce(value, f"{prefix}.{key}")
        return coerced

    def broken_rule(self, params: Mapping[str, ParamValue]) -> ParamRule | None:
        """The first of the strategy's own rules that complete `params` break, if any."""
        return next((r for r in self.rules if not r.holds(params)), None)

    def resolve_params(
        self, params: Mapping[str, Any] | None = None, prefix: str = "strategy.params"
    ) -> dict[str, ParamValue]:
        """Every parameter, defaults filled in, checked; or ParamError."""
        given = self.coerce_params(params or {}, prefix)
        resolved = {p.name: given.get(p.name, p.default) for p in self.params}
        rule = self.broken_rule(resolved)
        if rule is not None:
            # Name the parameter the caller gave, so the error points at what they wrote.
            field = next((name for name in rule.names if name in given), rule.names[0])
            raise ParamError(f"{prefix}.{field}", rule.message)
        return resolved

    def as_json(self) -> dict[str, Any]:
        listed: dict[str, Any] = {
            "kind": self.kind,
            "name": self.name,
            "description": self.description,
            "params": [p.as_json() for p in self.params],
            "rules": [r.as_json() for r in self.rules],
            "available": self.available,
        }
        if self.position_rules:
            listed["definition"] = {name: self.position_rules.get(name) for name in POSITION_RULES}
        if self.error is not None:
            listed["error"] = self.error
        return listed
