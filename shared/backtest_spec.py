"""The backtest request of docs/api.md, validated the same way by the API and the engine."""

import math
from typing import Annotated, Any, Literal, Self
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    PrivateAttr,
    SerializerFunctionWrapHandler,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from domain.strategies import (
    ParamError,
    ParamValue,
    StrategyEntry,
    StrategyRegistry,
    installed_strategies,
)
from domain.strategies.definitions import parse_definition
from domain.strategies.expressions import ExpressionError
from domain.strategies.warmup import MAX_AUTO_WARMUP_BARS, WINDOWS_OF_WARMUP, warmup_bars
from shared.series_range import SeriesRange
from shared.validation import field_error

MAX_WARMUP_BARS = 10_000_000

Direction = Literal["long_only", "short_only", "long_short"]
# What an inline expression strategy is called in the engine and its messages.
INLINE_NAME = "expression"
Fill = Literal["next_open", "close"]


class StrategyRef(BaseModel):
    """A strategy by `name` (a built-in or plugin), an inline expression `definition`, or a
    saved strategy by `id`, with `params`.

    With `name` or `definition`, `params` come back complete (defaults filled in) and checked;
    a bad one is reported at `strategy.params.<name>`, a bad definition at
    `strategy.definition.<field>`. A definition comes back in full with its defaults, and a
    plugin with the `sha256` of its file, so the stored request says exactly what ran.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str | None = None
    definition: dict[str, Any] | None = None
    params: dict[str, Any] | None = None
    id: UUID | None = None
    sha256: str | None = None

    _entry: StrategyEntry | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _resolve(self, info: ValidationInfo) -> Self:
        given = [f for f in ("name", "definition", "id") if getattr(self, f) is not None]
        if len(given) != 1:
            raise ValueError(
                "give one of a strategy `name`, an expression `definition` or a saved `id`"
            )
        if self.id is not None:
            if self.params is not None:
                raise ValueError("`params` go with `name`; a saved strategy has its own")
            return self
        entry = self._look_up(strategies_in(info))
        try:
            resolved = entry.resolve_params(self.params or {}, prefix="params")
        except ParamError as exc:
            raise _error_at(exc, self) from None
        object.__setattr__(self, "params", resolved)
        if entry.plugin is not None:
            self._check_plugin_file(entry.plugin.sha256)
        self._entry = entry
        return self

    def _look_up(self, strategies: StrategyRegistry) -> StrategyEntry:
        if self.definition is None:
            try:
                return strategies.entry(self.name, field="name")
            except ParamError as exc:
                raise _error_at(exc, self) from None
        try:
            definition = parse_definition(self.definition)
        except ExpressionError as exc:
            raise field_error(
                "StrategyRef", f"definition.{exc.field}", exc.message, self.definition
            ) from None
        object.__setattr__(self, "definition", definition.as_json())
        return definition.entry(INLINE_NAME)

    def _check_plugin_file(self, digest: str) -> None:
        if self.sha256 is None:
            object.__setattr__(self, "sha256", digest)
        elif self.sha256 != digest:
            raise field_error(
                "StrategyRef",
                "sha256",
                f"the plugin file of {self.name} here is not the one this request was "
                "checked against; deploy the same file to every host",
                self.sha256,
            )

    def entry(self) -> StrategyEntry:
        """The registry entry this reference resolved to (not for a saved `id`)."""
        if self._entry is None:
            raise ValueError("a saved strategy must be resolved to a name and params first")
        return self._entry

    @model_serializer(mode="wrap")
    def _without_nulls(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Echo the form the client used: {name, params}, {definition, params} or {id}.
        return {k: v for k, v in handler(self).items() if v is not None}

    @property
    def resolved_params(self) -> dict[str, ParamValue]:
        """The complete parameters; only for a strategy given by name or definition."""
        if self.params is None:
            raise ValueError("a saved strategy must be resolved to a name and params first")
        return dict(self.params)


def strategies_in(info: ValidationInfo) -> StrategyRegistry:
    """The registry a request is validated against: validation context `{"strategies": ...}`
    when given, else the one this process installed (the built-ins and its plugins)."""
    context = info.context if isinstance(info.context, dict) else {}
    strategies = context.get("strategies") or installed_strategies()
    assert isinstance(strategies, StrategyRegistry)
    return strategies


def _error_at(exc: ParamError, ref: StrategyRef) -> ValidationError:
    """A ValidationError at the ParamError's field, relative to the strategy object."""
    field = exc.field
    given: Any = ref.name
    if field.startswith("params."):
        given = (ref.params or {}).get(field.split(".", 1)[1])
    return field_error("StrategyRef", field, exc.message, given)


class AtrStop(BaseModel):
    """A stop `atr` x ATR(`atr_period`) from the fill, that ATR taken as known at the fill."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    atr: float = Field(gt=0, le=100)


def _stop(value: Any) -> float | AtrStop | None:
    """A fraction in (0, 1), `{"atr": k}` with k in (0, 100], or null; one message for both."""
    if value is None or isinstance(value, AtrStop):
        return value
    if isinstance(value, dict):
        return AtrStop.model_validate(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
        raise ValueError('must be a fraction in (0, 1) or {"atr": k} with k in (0, 100]')
    return float(value)


# A stop as a fraction of the fill price (0.02 = 2%), as a multiple of the ATR, or none.
Stop = Annotated[
    float | AtrStop | None,
    PlainValidator(_stop, json_schema_input_type=float | AtrStop | None),
    PlainSerializer(lambda stop: stop.model_dump() if isinstance(stop, AtrStop) else stop),
]
MAX_ATR_PERIOD = 10_000
PositionSize = Annotated[float, Field(gt=0, le=1, strict=True)]
MAX_LEVERAGE = 100
Leverage = Annotated[float, Field(ge=1, le=MAX_LEVERAGE, strict=True)]
# Without a stored risk-limit tier, the maintenance margin rate of Bybit's lowest tier.
DEFAULT_MAINTENANCE_MARGIN_RATE = 0.005
# The backtest fields an optimization's param_grid may vary beside the strategy's parameters.
EXECUTION_GRID_FIELDS: dict[str, TypeAdapter[Any]] = {
    "stop_loss": TypeAdapter(Stop),
    "take_profit": TypeAdapter(Stop),
    "trailing_stop": TypeAdapter(Stop),
    "position_size": TypeAdapter(PositionSize),
    "leverage": TypeAdapter(Leverage),
}


class MonteCarloRequest(BaseModel):
    """Closed trades' returns resampled with replacement, `runs` times, from `seed`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    runs: int = Field(ge=100, le=100_000, strict=True)
    seed: int = Field(ge=0, le=2**63 - 1, strict=True)


class BacktestSpec(SeriesRange):
    """POST /backtests; the stored `request` is this model dumped, with defaults filled in."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    strategy: StrategyRef
    initial_capital: float = Field(default=10_000.0, gt=0, strict=True)
    fee_rate: float = Field(default=0.00055, ge=0, le=0.1, strict=True)
    slippage_bps: float = Field(default=0.0, ge=0, le=1000, strict=True)
    direction: Direction = "long_only"
    fill: Fill = "next_open"
    position_size: PositionSize = 1.0
    stop_loss: Stop = None
    take_profit: Stop = None
    trailing_stop: Stop = None
    atr_period: int = Field(default=14, ge=1, le=MAX_ATR_PERIOD, strict=True)
    # Stored bars before `start` that only warm the indicators; "auto": see domain.strategies.warmup.
    warmup_bars: Annotated[int, Field(ge=0, le=MAX_WARMUP_BARS, strict=True)] | Literal["auto"] = (
        "auto"
    )
    monte_carlo: MonteCarloRequest | None = None
    # Perpetuals (linear, inverse); each comes back resolved: spot gets 1, false and the default.
    leverage: Leverage = 1.0
    funding: bool | None = None  # default: true for linear and inverse
    maintenance_margin_rate: float | None = Field(default=None, ge=0, le=0.5, strict=True)

    @model_validator(mode="after")
    def _perpetual_defaults(self) -> Self:
        if self.category == "spot":
            if self.leverage != 1:
                raise field_error(
                    "BacktestSpec", "leverage", "spot allows leverage 1 only", self.leverage
                )
            if self.funding:
                raise field_error("BacktestSpec", "funding", "spot has no funding", self.funding)
        if self.funding is None:
            object.__setattr__(self, "funding", self.category != "spot")
        if self.maintenance_margin_rate is None:
            object.__setattr__(self, "maintenance_margin_rate", DEFAULT_MAINTENANCE_MARGIN_RATE)
        return self

    @property
    def uses_atr(self) -> bool:
        stops = (self.stop_loss, self.take_profit, self.trailing_stop)
        return any(isinstance(s, AtrStop) for s in stops)

    @property
    def warmup_bars_asked(self) -> int:
        """`warmup_bars` as a number of bars (after a saved strategy is resolved); "auto" also
        warms the ATR of ATR stops."""
        strategy = warmup_bars(
            self.warmup_bars, self.strategy.entry(), self.strategy.resolved_params
        )
        if self.warmup_bars != "auto" or not self.uses_atr:
            return strategy
        return max(strategy, min(WINDOWS_OF_WARMUP * self.atr_period, MAX_AUTO_WARMUP_BARS))

    @field_validator("initial_capital")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be finite")
        return value
