"""The backtest request as the contract defines it, validated the same way by API and engine."""

import math
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Self
from uuid import UUID

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from shared.intervals import Category, Interval
from shared.strategy_catalog import ParamError, ParamValue, resolve_params

Direction = Literal["long_only", "short_only", "long_short"]
Fill = Literal["next_open", "close"]

_DIGITS = re.compile(r"^-?\d+$")


def _epoch_ms_or_iso(value: Any) -> Any:
    """Integers (and all-digit strings) are epoch milliseconds; anything else goes to pydantic."""
    if isinstance(value, bool):
        raise ValueError("must be an ISO-8601 time or epoch milliseconds")
    if isinstance(value, str) and _DIGITS.match(value.strip()):
        value = int(value)
    if isinstance(value, int):
        return datetime.fromtimestamp(value / 1000, UTC)
    return value


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# A time in a request: ISO-8601 (naive means UTC) or epoch ms; always an aware UTC datetime.
UtcTime = Annotated[datetime, BeforeValidator(_epoch_ms_or_iso)]


def to_epoch_ms(value: datetime) -> int:
    return int(_utc(value).timestamp() * 1000)


def _interval_text(value: Any) -> Any:
    # Clients often send "interval": 60; Bybit's values are strings.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


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
    loc = tuple(exc.field.split(".")) if exc.field != "strategy.name" else ("name",)
    given: Any = ref.name
    if loc[0] == "params" and len(loc) > 1:
        given = (ref.params or {}).get(loc[1])
    details = InitErrorDetails(
        type=PydanticCustomError("strategy_param", "{message}", {"message": exc.message}),
        loc=loc,
        input=given,
    )
    return ValidationError.from_exception_data("StrategyRef", [details])


class BacktestSpec(BaseModel):
    """POST /backtests; the stored `request` is this model dumped, with defaults filled in."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    category: Category
    symbol: str = Field(pattern=r"^[A-Z0-9]{2,30}$")
    interval: Annotated[Interval, BeforeValidator(_interval_text)]
    start: UtcTime
    end: UtcTime
    strategy: StrategyRef
    initial_capital: float = Field(default=10_000.0, gt=0, strict=True)
    fee_rate: float = Field(default=0.00055, ge=0, le=0.1, strict=True)
    slippage_bps: float = Field(default=0.0, ge=0, le=1000, strict=True)
    direction: Direction = "long_only"
    fill: Fill = "next_open"
    position_size: float = Field(default=1.0, gt=0, le=1, strict=True)
    stop_loss: float | None = Field(default=None, gt=0, lt=1, strict=True)
    take_profit: float | None = Field(default=None, gt=0, lt=1, strict=True)

    @field_validator("start", "end")
    @classmethod
    def _aware_utc(cls, value: datetime) -> datetime:
        return _utc(value)

    @field_validator("initial_capital")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be finite")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.start >= self.end:
            details = InitErrorDetails(
                type=PydanticCustomError("time_order", "start must be before end"),
                loc=("start",),
                input=self.start.isoformat(),
            )
            raise ValidationError.from_exception_data("BacktestSpec", [details])
        return self

    @property
    def start_ms(self) -> int:
        return to_epoch_ms(self.start)

    @property
    def end_ms(self) -> int:
        return to_epoch_ms(self.end)
