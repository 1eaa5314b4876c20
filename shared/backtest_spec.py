"""The backtest request of docs/api.md, validated the same way by the API and the engine."""

import math
from typing import Annotated, Any, Literal, Self
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from shared.series_range import SeriesRange
from shared.strategies import ParamError, ParamValue, resolve_params
from shared.validation import field_error
from shared.warmup import warmup_bars

MAX_WARMUP_BARS = 10_000_000

Direction = Literal["long_only", "short_only", "long_short"]
Fill = Literal["next_open", "close"]


class StrategyRef(BaseModel):
    """A built-in strategy by `name` with its `params`, or a saved strategy by `id`.

    With `name`, `params` come back complete (defaults filled in) and checked against the
    catalog; a bad one is reported at `strategy.params.<name>`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str | None = None
    params: dict[str, Any] | None = None
    id: UUID | None = None

    @model_validator(mode="after")
    def _resolve(self) -> Self:
        if (self.name is None) == (self.id is None):
            raise ValueError("give either a built-in strategy `name` or a saved strategy `id`")
        if self.id is not None:
            if self.params is not None:
                raise ValueError("`params` go with `name`; a saved strategy has its own")
            return self
        try:
            resolved = resolve_params(self.name, self.params or {}, prefix="params")
        except ParamError as exc:
            raise _error_at(exc, self) from None
        object.__setattr__(self, "params", resolved)
        return self

    @model_serializer(mode="wrap")
    def _without_nulls(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Echo the form the client used: {name, params} or {id}.
        return {k: v for k, v in handler(self).items() if v is not None}

    @property
    def resolved_params(self) -> dict[str, ParamValue]:
        """The complete parameters; only for a strategy given by name."""
        if self.params is None:
            raise ValueError("a saved strategy must be resolved to a name and params first")
        return dict(self.params)


def _error_at(exc: ParamError, ref: StrategyRef) -> ValidationError:
    """A ValidationError at the ParamError's field, relative to the strategy object."""
    field = "name" if exc.field == "strategy.name" else exc.field
    given: Any = ref.name
    if field.startswith("params."):
        given = (ref.params or {}).get(field.split(".", 1)[1])
    return field_error("StrategyRef", field, exc.message, given)


class BacktestSpec(SeriesRange):
    """POST /backtests; the stored `request` is this model dumped, with defaults filled in."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    strategy: StrategyRef
    initial_capital: float = Field(default=10_000.0, gt=0, strict=True)
    fee_rate: float = Field(default=0.00055, ge=0, le=0.1, strict=True)
    slippage_bps: float = Field(default=0.0, ge=0, le=1000, strict=True)
    direction: Direction = "long_only"
    fill: Fill = "next_open"
    position_size: float = Field(default=1.0, gt=0, le=1, strict=True)
    stop_loss: float | None = Field(default=None, gt=0, lt=1, strict=True)
    take_profit: float | None = Field(default=None, gt=0, lt=1, strict=True)
    # Stored bars before `start` that only warm the indicators; "auto": see shared.warmup.
    warmup_bars: Annotated[int, Field(ge=0, le=MAX_WARMUP_BARS, strict=True)] | Literal["auto"] = (
        "auto"
    )

    @property
    def warmup_bars_asked(self) -> int:
        """`warmup_bars` as a number of bars (after a saved strategy is resolved to a name)."""
        assert self.strategy.name is not None
        return warmup_bars(self.warmup_bars, self.strategy.name, self.strategy.resolved_params)

    @field_validator("initial_capital")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be finite")
        return value
