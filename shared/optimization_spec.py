"""The optimization request: a grid over a strategy's parameters, optionally walk-forward."""

import itertools
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.backtest_spec import BacktestSpec
from shared.metric_names import METRIC_KEYS
from shared.strategies import ParamError, ParamValue, strategy_entry
from shared.validation import field_error
from shared.walk_forward import WalkForward

# A grid larger than this is almost surely a mistake, and its rows would not fit one answer.
MAX_COMBINATIONS = 100_000

Objective = Literal[METRIC_KEYS]  # type: ignore[valid-type]


class OptimizationSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["grid", "walk_forward"]
    backtest: BacktestSpec
    param_grid: dict[str, list[Any]] = Field(min_length=1)
    objective: Objective = "sharpe"
    walk_forward: WalkForward | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        try:
            self._check_grid()
        except ParamError as exc:
            raise field_error("OptimizationSpec", exc.field, exc.message) from None
        return self

    def _check_grid(self) -> None:
        if self.backtest.strategy.name is None:
            raise ParamError("backtest.strategy", "name a built-in strategy to optimize")
        if self.kind == "walk_forward" and self.walk_forward is None:
            raise ParamError("walk_forward", "required when kind is walk_forward")
        strategy = strategy_entry(self.backtest.strategy.name, "backtest.strategy.name")
        for name, values in self.param_grid.items():
            param = strategy.param(name)
            if param is None:
                known = ", ".join(p.name for p in strategy.params)
                raise ParamError(f"param_grid.{name}", f"unknown parameter; known: {known}")
            if not values:
                raise ParamError(f"param_grid.{name}", "needs at least one value")
            for i, value in enumerate(values):
                param.coerce(value, f"param_grid.{name}.{i}")
        total = 1
        for values in self.param_grid.values():
            total *= len(values)
        if total > MAX_COMBINATIONS:
            raise ParamError("param_grid", f"{total} combinations; at most {MAX_COMBINATIONS}")

    def combinations(self) -> tuple[list[dict[str, ParamValue]], int]:
        """Every parameter set to run (base params overridden by the grid) and how many of the
        grid's combinations were skipped for breaking the strategy's own rule."""
        name = self.backtest.strategy.name
        assert name is not None
        base = self.backtest.strategy.resolved_params
        strategy = strategy_entry(name)
        names = list(self.param_grid)
        runs, skipped = [], 0
        for values in itertools.product(*(self.param_grid[n] for n in names)):
            params = dict(base)
            for key, value in zip(names, values, strict=True):
                params[key] = strategy.param(key).coerce(value, key)  # type: ignore[union-attr]
            if strategy.broken_rule(params) is None:
                runs.append(params)
            else:
                skipped += 1
        return runs, skipped
