"""The optimization request: a grid over a strategy's parameters or a Bayesian search over a
space of them (shared/param_space.py), optionally walk-forward."""

import itertools
import math
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from domain.execution.settings import PORTFOLIO_GRID_FIELD
from domain.metrics.names import METRIC_KEYS
from domain.strategies import ParamError, ParamValue
from shared.backtest_spec import EXECUTION_GRID_FIELDS, BacktestSpec
from shared.param_space import BayesSearch, Dimension, SpaceEntry, check_space, first_valid_point
from shared.portfolio_spec import MAX_SYMBOLS
from shared.validation import error_message, field_error
from shared.walk_forward import WalkForward

# A grid larger than this is almost surely a mistake, and its rows would not fit one answer.
MAX_COMBINATIONS = 100_000

Objective = Literal[METRIC_KEYS]  # type: ignore[valid-type]
OptimizationKind = Literal["grid", "walk_forward", "bayes"]


class GridRange(BaseModel):
    """`start`, `start + step`, ... up to `stop`, which is included when a step lands on it."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    start: int | float
    stop: int | float
    step: int | float


def range_values(grid_range: GridRange, integers: bool, field: str) -> list[int | float]:
    """The values of a range; integers only, for an int parameter."""
    start, stop, step = grid_range.start, grid_range.stop, grid_range.step
    if integers and not all(isinstance(v, int) for v in (start, stop, step)):
        raise ParamError(field, "start, stop and step must be integers for an integer parameter")
    if step <= 0:
        raise ParamError(field, "step must be positive")
    if stop < start:
        raise ParamError(field, "stop must not be below start")
    # A hair of tolerance so that 0.1 + 2 * 0.1 still counts as landing on 0.3.
    count = math.floor((stop - start) / step * (1 + 1e-12) + 1e-9) + 1
    if count > MAX_COMBINATIONS:
        raise ParamError(field, f"{count} values; at most {MAX_COMBINATIONS}")
    if integers:
        return list(range(int(start), int(stop) + 1, int(step)))
    return [round(start + i * step, 12) for i in range(count)]


def _execution_values(name: str, given: list[Any] | GridRange) -> list[Any]:
    """A grid over a backtest field: each value checked as that field is in a backtest."""
    values = (
        range_values(given, False, f"param_grid.{name}") if isinstance(given, GridRange) else given
    )
    if not values:
        raise ParamError(f"param_grid.{name}", "needs at least one value")
    adapter = EXECUTION_GRID_FIELDS[name]
    checked = []
    for i, value in enumerate(values):
        try:
            checked.append(adapter.dump_python(adapter.validate_python(value), mode="json"))
        except ValidationError as exc:
            raise ParamError(f"param_grid.{name}.{i}", error_message(exc.errors()[0])) from None
    return checked


# A search over a portfolio's `max_positions`: integers in 1..MAX_SYMBOLS, as a grid's.
_SLOTS: TypeAdapter[int] = TypeAdapter(Annotated[int, Field(strict=True, ge=1, le=MAX_SYMBOLS)])


def _slot_values(given: list[Any] | GridRange) -> list[int]:
    """A grid over a portfolio's `max_positions`: integers in 1..MAX_SYMBOLS."""
    field = f"param_grid.{PORTFOLIO_GRID_FIELD}"
    values = range_values(given, True, field) if isinstance(given, GridRange) else given
    if not values:
        raise ParamError(field, "needs at least one value")
    for i, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SYMBOLS:
            raise ParamError(f"{field}.{i}", f"must be an integer in 1..{MAX_SYMBOLS}")
    return [int(v) for v in values]


class OptimizationSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: OptimizationKind
    backtest: BacktestSpec
    param_grid: dict[str, list[Any] | GridRange] | None = Field(
        None,
        min_length=1,
        description="grid and walk_forward: per parameter, a list of values or a range "
        "{start, stop, step}; the stored request holds each range as its list of values",
    )
    param_space: dict[str, SpaceEntry] | None = Field(
        None,
        min_length=1,
        description="bayes: per parameter, a list of values or a range {low, high, step?, log?}",
    )
    search: BayesSearch | None = Field(
        None, description="bayes: trials, batch, sampler (tpe, random, cmaes) and seed"
    )
    objective: Objective = "sharpe"
    walk_forward: WalkForward | None = None
    robustness_blocks: int = Field(
        default=16,
        ge=4,
        le=20,
        strict=True,
        description="blocks of the per-bar returns for the probability of backtest overfitting",
    )

    @field_validator("robustness_blocks")
    @classmethod
    def _even(cls, value: int) -> int:
        if value % 2:
            raise ValueError("must be even: half the blocks are in sample")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        try:
            self._check_grid()
        except ParamError as exc:
            raise field_error("OptimizationSpec", exc.field, exc.message) from None
        return self

    def _check_grid(self) -> None:
        if self.backtest.strategy.id is not None:
            raise ParamError("backtest.strategy.id", "a saved strategy must be written out first")
        if self.kind == "walk_forward" and self.walk_forward is None:
            raise ParamError("walk_forward", "required when kind is walk_forward")
        if self.kind == "bayes":
            self._check_space()
            return
        for other in ("param_space", "search"):
            if getattr(self, other) is not None:
                raise ParamError(other, "only for kind bayes")
        if self.param_grid is None:
            raise ParamError("param_grid", f"required when kind is {self.kind}")
        portfolio = self.backtest.symbols is not None
        strategy = self.backtest.strategy.entry()
        expanded: dict[str, list[Any] | GridRange] = {}
        for name, given in self.param_grid.items():
            if name == PORTFOLIO_GRID_FIELD:
                if not portfolio:
                    raise ParamError(f"param_grid.{name}", "varies a portfolio's; give symbols")
                expanded[name] = _slot_values(given)
                continue
            if name in EXECUTION_GRID_FIELDS:
                expanded[name] = _execution_values(name, given)
                spot = self.backtest.category == "spot"
                if name == "leverage" and spot and any(v != 1 for v in expanded[name]):
                    raise ParamError(f"param_grid.{name}", "spot allows leverage 1 only")
                continue
            param = strategy.param(name)
            if param is None:
                known = ", ".join([*(p.name for p in strategy.params), *EXECUTION_GRID_FIELDS])
                raise ParamError(f"param_grid.{name}", f"unknown parameter; known: {known}")
            values = given
            if isinstance(given, GridRange):
                values = range_values(given, param.type is int, f"param_grid.{name}")
            expanded[name] = values
            if not values:
                raise ParamError(f"param_grid.{name}", "needs at least one value")
            for i, value in enumerate(values):
                param.coerce(value, f"param_grid.{name}.{i}")
        object.__setattr__(self, "param_grid", expanded)
        total = 1
        for values in self.grid.values():
            total *= len(values)
        if total > MAX_COMBINATIONS:
            raise ParamError("param_grid", f"{total} combinations; at most {MAX_COMBINATIONS}")

    def _check_space(self) -> None:
        if self.param_grid is not None:
            raise ParamError("param_grid", "a bayes search takes param_space instead")
        if self.param_space is None:
            raise ParamError("param_space", "required when kind is bayes")
        if self.search is None:
            raise ParamError("search", "required when kind is bayes")
        dimensions = self.dimensions()
        entry = self.backtest.strategy.entry()
        if first_valid_point(dimensions, self.backtest.strategy.resolved_params, entry) is None:
            rules = "; ".join(r.message for r in entry.rules)
            raise ParamError(
                "param_space", f"no point of the space keeps the strategy's rules: {rules}"
            )

    def dimensions(self) -> list[Dimension]:
        """A bayes search's space, checked, in the order given."""
        assert self.param_space is not None
        fields = EXECUTION_GRID_FIELDS
        if self.backtest.symbols is not None:
            fields = {**fields, PORTFOLIO_GRID_FIELD: _SLOTS}
        return check_space(
            self.param_space,
            self.backtest.strategy.entry(),
            fields,
            self.backtest.category == "spot",
        )

    def sampled_leverage(self) -> tuple[list[float], list[str]]:
        """A search's leverage values at their extremes, with the fields that give them."""
        for d in self.dimensions():
            if d.name != "leverage":
                continue
            if d.kind == "categorical":
                return list(d.choices), [f"param_space.leverage.{i}" for i in range(len(d.choices))]
            return [float(d.high)], ["param_space.leverage.high"]
        return [], []

    @property
    def grid(self) -> dict[str, list[Any]]:
        """The grid's values per parameter (ranges are lists once validated)."""
        given = self.param_grid or {}
        return {n: v for n, v in given.items() if isinstance(v, list)}

    def combinations(self) -> tuple[list[dict[str, ParamValue]], int]:
        """Every parameter set to run (base params overridden by the grid) and how many of the
        grid's combinations were skipped for breaking the strategy's own rule."""
        base = self.backtest.strategy.resolved_params
        strategy = self.backtest.strategy.entry()
        grid = self.grid
        names = list(grid)
        runs, skipped = [], 0
        for values in itertools.product(*(grid[n] for n in names)):
            params = dict(base)
            for key, value in zip(names, values, strict=True):
                param = strategy.param(key)
                # A backtest field (a stop, the position size) was checked when validated.
                params[key] = value if param is None else param.coerce(value, key)
            if strategy.broken_rule(params) is None:
                runs.append(params)
            else:
                skipped += 1
        return runs, skipped
