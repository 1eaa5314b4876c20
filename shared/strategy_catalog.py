"""The built-in strategies' parameters: types, defaults, bounds and each strategy's own rule.

Shared so the API can validate requests without importing the engine.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ParamValue = int | float


class ParamError(ValueError):
    """A strategy or parameter the catalog rejects; `field` is its dotted path in a request."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class ParamSpec:
    name: str
    type: type[int] | type[float]
    default: ParamValue
    minimum: ParamValue
    maximum: ParamValue
    description: str
    minimum_exclusive: bool = False

    def bounds_text(self) -> str:
        opening = "(" if self.minimum_exclusive else "["
        return f"{opening}{self.minimum}, {self.maximum}]"

    def coerce(self, value: Any, field: str) -> ParamValue:
        """The value as this parameter's type, or ParamError for a wrong type or bound."""
        # bool is an int subclass, but `true` is never a period.
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ParamError(field, f"must be {'an integer' if self.type is int else 'a number'}")
        if not math.isfinite(value):
            raise ParamError(field, "must be finite")
        coerced: ParamValue
        if self.type is int:
            if isinstance(value, float) and not value.is_integer():
                raise ParamError(field, "must be an integer")
            coerced = int(value)
        else:
            coerced = float(value)
        too_low = coerced <= self.minimum if self.minimum_exclusive else coerced < self.minimum
        if too_low or coerced > self.maximum:
            raise ParamError(field, f"must be in {self.bounds_text()}")
        return coerced

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type.__name__,
            "default": self.default,
            "minimum": self.minimum,
            "maximum": self.maximum,
            "minimum_exclusive": self.minimum_exclusive,
            "description": self.description,
        }


@dataclass(frozen=True)
class LessThanRule:
    """`smaller` must be strictly below `larger` (e.g. fast < slow)."""

    smaller: str
    larger: str

    @property
    def message(self) -> str:
        return f"{self.smaller} must be less than {self.larger}"

    def holds(self, params: Mapping[str, ParamValue]) -> bool:
        return params[self.smaller] < params[self.larger]

    def as_json(self) -> dict[str, Any]:
        return {"rule": f"{self.smaller} < {self.larger}", "message": self.message}


@dataclass(frozen=True)
class StrategySpec:
    name: str
    description: str
    params: tuple[ParamSpec, ...]
    rules: tuple[LessThanRule, ...] = ()

    def param(self, name: str) -> ParamSpec | None:
        return next((p for p in self.params if p.name == name), None)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "params": [p.as_json() for p in self.params],
            "rules": [r.as_json() for r in self.rules],
        }


MAX_PERIOD = 10_000


def _period(name: str, default: int, description: str, minimum: int = 1) -> ParamSpec:
    return ParamSpec(name, int, default, minimum, MAX_PERIOD, description)


def _rsi_level(name: str, default: float, description: str) -> ParamSpec:
    return ParamSpec(name, float, default, 0.0, 100.0, description)


STRATEGIES: dict[str, StrategySpec] = {
    s.name: s
    for s in (
        StrategySpec(
            "sma_cross",
            "Long while SMA(close, fast) > SMA(close, slow); short (if allowed) while below.",
            (
                _period("fast", 10, "bars in the fast simple moving average"),
                _period("slow", 30, "bars in the slow simple moving average"),
            ),
            (LessThanRule("fast", "slow"),),
        ),
        StrategySpec(
            "ema_cross",
            "Long while EMA(close, fast) > EMA(close, slow); short (if allowed) while below.",
            (
                _period("fast", 12, "bars in the fast exponential moving average"),
                _period("slow", 26, "bars in the slow exponential moving average"),
            ),
            (LessThanRule("fast", "slow"),),
        ),
        StrategySpec(
            "macd",
            "Long while the MACD line is above its signal line; short (if allowed) while below.",
            (
                _period("fast", 12, "bars in the fast EMA of the MACD line"),
                _period("slow", 26, "bars in the slow EMA of the MACD line"),
                _period("signal", 9, "bars in the EMA of the MACD line that forms the signal"),
            ),
            (LessThanRule("fast", "slow"),),
        ),
        StrategySpec(
            "rsi_reversion",
            "Enter long when RSI < lower, exit when RSI > upper (short: the mirror).",
            (
                _period("period", 14, "bars in Wilder's RSI", minimum=2),
                _rsi_level("lower", 30.0, "RSI level below which to buy"),
                _rsi_level("upper", 70.0, "RSI level above which to sell"),
            ),
            (LessThanRule("lower", "upper"),),
        ),
        StrategySpec(
            "bollinger_reversion",
            "Enter long when close < lower band, exit when close > middle band (short: mirror).",
            (
                _period("period", 20, "bars in the bands' SMA and standard deviation", minimum=2),
                ParamSpec(
                    "k",
                    float,
                    2.0,
                    0.0,
                    10.0,
                    "band width in population standard deviations",
                    minimum_exclusive=True,
                ),
            ),
        ),
        StrategySpec(
            "donchian_breakout",
            "Enter long when close > highest high of the previous `period` bars, exit when "
            "close < their lowest low (short: the mirror).",
            (_period("period", 20, "bars in the channel, not counting the current one"),),
        ),
    )
}


def strategy_spec(name: Any, field: str = "strategy.name") -> StrategySpec:
    spec = STRATEGIES.get(name) if isinstance(name, str) else None
    if spec is None:
        raise ParamError(field, f"unknown strategy; choose one of {', '.join(STRATEGIES)}")
    return spec


def coerce_params(
    name: str, params: Mapping[str, Any], prefix: str = "strategy.params"
) -> dict[str, ParamValue]:
    """The given parameters type-checked and bounds-checked, without defaults or rules."""
    spec = strategy_spec(name)
    coerced: dict[str, ParamValue] = {}
    for key, value in params.items():
        param = spec.param(key)
        if param is None:
            known = ", ".join(p.name for p in spec.params)
            raise ParamError(f"{prefix}.{key}", f"unknown parameter of {name}; known: {known}")
        coerced[key] = param.coerce(value, f"{prefix}.{key}")
    return coerced


def broken_rule(name: str, params: Mapping[str, ParamValue]) -> LessThanRule | None:
    """The first of the strategy's own rules that complete `params` break, if any."""
    return next((r for r in strategy_spec(name).rules if not r.holds(params)), None)


def resolve_params(
    name: Any, params: Mapping[str, Any] | None = None, prefix: str = "strategy.params"
) -> dict[str, ParamValue]:
    """Every parameter of strategy `name`, defaults filled in, checked; or ParamError."""
    spec = strategy_spec(name)
    given = coerce_params(spec.name, params or {}, prefix)
    resolved = {p.name: given.get(p.name, p.default) for p in spec.params}
    rule = broken_rule(spec.name, resolved)
    if rule is not None:
        # Name the parameter the caller gave, so the error points at what they wrote.
        field = rule.smaller if rule.smaller in given or rule.larger not in given else rule.larger
        raise ParamError(f"{prefix}.{field}", rule.message)
    return resolved


def catalog_json() -> list[dict[str, Any]]:
    """The built-in strategies as JSON-able dicts, for GET /strategies."""
    return [s.as_json() for s in STRATEGIES.values()]
