"""A Bayesian search's request: the space it samples (`param_space`) and how (`search`).

Pure validation, shared by the API (refusing with a 422 that names the field) and the engine
(turning each entry into the Optuna call the contract names, services/engine/optimization/
bayes_study.py). A `Dimension` is one entry once checked: a list of values (categorical) or
a range of an int or a float parameter.
"""

import functools
import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from domain.strategies import ParamError, ParamValue, StrategyEntry
from shared.validation import error_message

MIN_TRIALS = 10
MAX_TRIALS = 100_000
# At most this many asks per evaluated trial: past it, a space whose samples mostly break the
# strategy's rule ends the search early.
ASKS_PER_TRIAL = 10
# Points of the space tried at validation to find one that keeps the strategy's rule.
_PROBE_POINTS = 50_000

Sampler = Literal["tpe", "random", "cmaes"]


class SpaceRange(BaseModel):
    """From `low` to `high` (both included); `step` spaces the values, `log` samples the
    logarithm uniformly."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    low: int | float
    high: int | float
    step: int | float | None = None
    log: bool = False


class BayesSearch(BaseModel):
    """How many trials, asked `batch` at a time, from which Optuna sampler and seed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    trials: int = Field(ge=MIN_TRIALS, le=MAX_TRIALS, strict=True, description="trials to run")
    batch: int = Field(
        default=16, ge=1, le=1_000, strict=True, description="trials asked before any is told"
    )
    sampler: Sampler = Field(default="tpe", description="Optuna's TPE, random or CMA-ES sampler")
    seed: int = Field(default=0, ge=0, le=2**32 - 1, strict=True, description="the sampler's")


SpaceEntry = list[Any] | SpaceRange


@dataclass(frozen=True)
class Dimension:
    """One checked `param_space` entry: `choices` (categorical), else an int or float range."""

    name: str
    kind: Literal["categorical", "int", "float"]
    low: ParamValue = 0
    high: ParamValue = 0
    step: ParamValue | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()

    def probes(self) -> list[Any]:
        """A few values spread over the dimension, to look for a point that keeps the rules."""
        if self.kind == "categorical":
            return list(self.choices)
        spread = [self.low + (self.high - self.low) * q for q in (0, 0.25, 0.5, 0.75, 1)]
        if self.step is not None:
            spread = [self.low + round((v - self.low) / self.step) * self.step for v in spread]
            spread = [v for v in spread if v <= self.high] or [self.low]
        if self.kind == "int":
            return sorted({round(v) for v in spread})
        return sorted(set(spread))


@functools.cache
def _is_integer_field(adapter: TypeAdapter[Any]) -> bool:
    return adapter.json_schema().get("type") == "integer"


def _checked_value(
    value: Any, field: str, param: Any | None, adapter: TypeAdapter[Any] | None
) -> Any:
    """A value as the parameter (or the backtest field) takes it, or ParamError."""
    if param is not None:
        return param.coerce(value, field)
    assert adapter is not None
    try:
        checked = adapter.dump_python(adapter.validate_python(value), mode="json")
    except ValidationError as exc:
        raise ParamError(field, error_message(exc.errors()[0])) from None
    if checked is not None and not isinstance(checked, int | float | str | bool):
        raise ParamError(field, "a Bayesian search samples numbers (or null) here")
    return checked


def _range_dimension(
    name: str, given: SpaceRange, integers: bool, check: Callable[[Any, str], Any]
) -> Dimension:
    field = f"param_space.{name}"
    if integers:
        for part in ("low", "high", "step"):
            value = getattr(given, part)
            if value is not None and (isinstance(value, float) and not value.is_integer()):
                raise ParamError(f"{field}.{part}", "must be an integer for an integer parameter")
    if given.low > given.high:
        raise ParamError(f"{field}.high", f"must not be below low ({given.low})")
    if given.step is not None and given.step <= 0:
        raise ParamError(f"{field}.step", "must be positive")
    if given.log:
        if given.low <= 0:
            raise ParamError(f"{field}.low", "must be positive when log is true")
        if given.step is not None and not (integers and given.step == 1):
            raise ParamError(f"{field}.step", "a log range takes no step")
    low, high = check(given.low, f"{field}.low"), check(given.high, f"{field}.high")
    if integers:
        int_step = None if given.step is None else int(given.step)
        return Dimension(name, "int", int(low), int(high), int_step, given.log)
    float_step = None if given.step is None else float(given.step)
    return Dimension(name, "float", float(low), float(high), float_step, given.log)


def check_space(
    space: Mapping[str, SpaceEntry],
    strategy: StrategyEntry,
    execution_fields: Mapping[str, TypeAdapter[Any]],
    spot: bool,
) -> list[Dimension]:
    """Every entry checked, in the order given; ParamError naming the field otherwise."""
    dimensions = []
    for name, given in space.items():
        field = f"param_space.{name}"
        param = strategy.param(name)
        adapter = execution_fields.get(name)
        if param is None and adapter is None:
            known = ", ".join([*(p.name for p in strategy.params), *execution_fields])
            raise ParamError(field, f"unknown parameter; known: {known}")

        def check(value: Any, at: str, p: Any = param, a: Any = adapter) -> Any:
            return _checked_value(value, at, p, a)

        if isinstance(given, SpaceRange):
            integers = param.type is int if param is not None else _is_integer_field(adapter)
            dimension = _range_dimension(name, given, integers, check)
        else:
            if not given:
                raise ParamError(field, "needs at least one value")
            choices = tuple(check(v, f"{field}.{i}") for i, v in enumerate(given))
            dimension = Dimension(name, "categorical", choices=choices)
        if name == "leverage" and spot and _leverage_beyond_one(dimension):
            raise ParamError(field, "spot allows leverage 1 only")
        dimensions.append(dimension)
    return dimensions


def _leverage_beyond_one(dimension: Dimension) -> bool:
    if dimension.kind == "categorical":
        return any(v != 1 for v in dimension.choices)
    return dimension.low != 1 or dimension.high != 1


def first_valid_point(
    dimensions: list[Dimension],
    base: Mapping[str, ParamValue],
    strategy: StrategyEntry,
) -> dict[str, Any] | None:
    """A point of a lattice over the space (each range's ends and quartiles, each list's
    values) that keeps the strategy's own rules, or None when none does."""
    names = [d.name for d in dimensions]
    lattice = itertools.product(*(d.probes() for d in dimensions))
    for values in itertools.islice(lattice, _PROBE_POINTS):
        params = {**base, **dict(zip(names, values, strict=True))}
        if strategy.broken_rule(params) is None:
            return params
    return None
