"""A strategy's parameters and its own rules: types, defaults, bounds, `fast < slow`.

The same checks for every kind of strategy, so the API validates without the engine.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

ParamValue = int | float


class ParamError(ValueError):
    """A strategy or parameter the registry rejects; `field` is its dotted path in a request."""

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


class ParamRule(Protocol):
    """A strategy's own rule over complete parameters, e.g. `fast < slow`."""

    @property
    def names(self) -> tuple[str, ...]:
        """The parameters it reads; an error names the first one the caller gave."""
        ...

    @property
    def message(self) -> str: ...

    def holds(self, params: Mapping[str, ParamValue]) -> bool: ...

    def as_json(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class LessThanRule:
    """`smaller` must be strictly below `larger` (e.g. fast < slow)."""

    smaller: str
    larger: str

    @property
    def names(self) -> tuple[str, ...]:
        return (self.smaller, self.larger)

    @property
    def message(self) -> str:
        return f"{self.smaller} must be less than {self.larger}"

    def holds(self, params: Mapping[str, ParamValue]) -> bool:
        return params[self.smaller] < params[self.larger]

    def as_json(self) -> dict[str, Any]:
        return {"rule": f"{self.smaller} < {self.larger}", "message": self.message}
