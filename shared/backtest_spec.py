"""The backtest request of docs/api.md, validated the same way by the API and the engine."""

import dataclasses
import math
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Self, cast
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    PlainValidator,
    PrivateAttr,
    SerializerFunctionWrapHandler,
    Tag,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from domain.execution.config import BacktestConfig
from domain.execution.settings import (
    GRIDABLE_FIELDS,
    AtrMultiple,
    Direction,
    ExecutionSettings,
    Fill,
    LimitEntry,
)
from domain.execution.settings import Stop as DomainStop
from domain.market.intervals import detail_divides, interval_ms
from domain.strategies import (
    ParamError,
    ParamValue,
    StrategyEntry,
    StrategyRegistry,
    installed_strategies,
)
from domain.strategies.definitions import (
    check_market,
    check_rule_market,
    definition_of,
    parse_definition,
)
from domain.strategies.expressions import ExpressionError
from domain.strategies.rank_rule import parse_rank
from domain.strategies.warmup import MAX_AUTO_WARMUP_BARS, WINDOWS_OF_WARMUP, warmup_bars
from shared.portfolio_spec import MAX_SYMBOL_BARS, MAX_SYMBOLS, PortfolioSpec
from shared.series_range import IntervalText, SeriesRange, Symbol
from shared.validation import field_error

MAX_WARMUP_BARS = 10_000_000

# What an inline expression strategy is called in the engine and its messages.
INLINE_NAME = "expression"


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
    saved_as: str | None = Field(
        default=None,
        max_length=100,
        description="the saved strategy this was written out from (set by the API); a label",
    )

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


def strategy_name(strategy: Mapping[str, Any]) -> str:
    """What a job is listed and filtered under (`strategy_name`), from its request's strategy
    as stored: the saved strategy's name, the built-in or plugin's, an inline definition's
    optional `name`, else "expression"."""
    definition = strategy.get("definition")
    label = definition.get("name") if isinstance(definition, Mapping) else None
    name = strategy.get("saved_as") or strategy.get("name") or label or INLINE_NAME
    return str(name)


# Bybit's fee rates (VIP 0, perpetuals): a fee at or above SUSPICIOUS_FEE_RATE is more likely a
# percentage typed as a fraction (0.055 for 5.5 bps) than a fee anyone pays.
BYBIT_FEE_RATES = {"fee_rate": 0.00055, "maker_fee_rate": 0.0002}
SUSPICIOUS_FEE_RATE = 0.005


def request_warnings(request: Mapping[str, Any]) -> list[str]:
    """What a backtest request accepted may still have wrong: a fee rate likely meant in
    percent."""
    warnings = []
    for field, bybit in BYBIT_FEE_RATES.items():
        value = request.get(field)
        if isinstance(value, int | float) and value >= SUSPICIOUS_FEE_RATE:
            warnings.append(
                f"{field} {value:g} is {value:.2%} of each fill; Bybit's is {bybit:g} "
                f"({bybit * 10_000:g} bps): fee rates are fractions, not percentages"
            )
    return warnings


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
# The execution model's defaults, written once in the domain.
DEFAULTS = ExecutionSettings()


def core_stop(stop: float | AtrStop | None) -> DomainStop:
    """A request's stop as the domain takes it."""
    return AtrMultiple(stop.atr) if isinstance(stop, AtrStop) else stop


# A time stop: a position held through this many bar closes exits; null: none.
MaxBarsInTrade = Annotated[int | None, Field(ge=1, strict=True)]


class LimitOrder(BaseModel):
    """An entry by limit order at the signal bar's close x (1 -/+ `offset`), working over the
    next `valid_bars` bars (docs/simulation.md, "Orders, sizing and intrabar fills")."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    type: Literal["limit"]
    offset: float = Field(default=0.0, ge=0, le=0.2)
    valid_bars: int = Field(default=1, ge=1, le=1000, strict=True)


class FractionSizing(BaseModel):
    """Entries of `position_size` of the equity."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: Literal["fraction"]


class RiskSizing(BaseModel):
    """Entries that lose `risk` of the equity if the stop loss fills at its level, capped at
    the `fraction` quantity."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    method: Literal["risk"]
    risk: float = Field(gt=0, le=0.2)


Sizing = Annotated[FractionSizing | RiskSizing, Field(discriminator="method")]


def _order_kind(value: Any) -> str:
    return "market" if isinstance(value, str) else "limit"


# "market", or a limit order (its errors named `entry_order.limit.<field>`).
EntryOrder = Annotated[
    Annotated[Literal["market"], Tag("market")] | Annotated[LimitOrder, Tag("limit")],
    Discriminator(_order_kind),
]


def core_entry_order(order: str | LimitOrder) -> LimitEntry | None:
    """A request's `entry_order` as the domain takes it (None: market)."""
    if isinstance(order, LimitOrder):
        return LimitEntry(order.offset, order.valid_bars)
    return None


class MonteCarloRequest(BaseModel):
    """Closed trades' returns resampled with replacement, `runs` times, from `seed`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    runs: int = Field(ge=100, le=100_000, strict=True)
    seed: int = Field(ge=0, le=2**63 - 1, strict=True)


def _no_default(schema: dict[str, Any]) -> None:
    """`symbol` is optional only beside `symbols`: its schema shows no default."""
    schema.pop("default", None)


class BacktestSpec(SeriesRange):
    """POST /backtests; the stored `request` is this model dumped, with defaults filled in."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    # One symbol, or `symbols` and `portfolio` (docs/simulation.md, "Portfolios"); with
    # `symbols`, `symbol` is left out of the request (it is the first symbol inside).
    symbol: Symbol = Field(
        default="",
        description="the symbol; or `symbols` for a portfolio",
        json_schema_extra=_no_default,
    )
    symbols: Annotated[list[Symbol], Field(min_length=1, max_length=MAX_SYMBOLS)] | None = None
    portfolio: PortfolioSpec | None = None
    strategy: StrategyRef
    initial_capital: float = Field(default=DEFAULTS.initial_capital, gt=0, strict=True)
    fee_rate: float = Field(default=DEFAULTS.fee_rate, ge=0, le=0.1, strict=True)
    slippage_bps: float = Field(default=DEFAULTS.slippage_bps, ge=0, le=1000, strict=True)
    direction: Direction = DEFAULTS.direction
    fill: Fill = DEFAULTS.fill
    position_size: PositionSize = DEFAULTS.position_size
    stop_loss: Stop = None
    take_profit: Stop = None
    trailing_stop: Stop = None
    atr_period: int = Field(default=DEFAULTS.atr_period, ge=1, le=MAX_ATR_PERIOD, strict=True)
    # Stored bars before `start` that only warm the indicators; "auto": domain.strategies.warmup.
    warmup_bars: Annotated[int, Field(ge=0, le=MAX_WARMUP_BARS, strict=True)] | Literal["auto"] = (
        "auto"
    )
    monte_carlo: MonteCarloRequest | None = None
    # Perpetuals (linear, inverse); each comes back resolved: spot gets 1, false and the default.
    leverage: Leverage = DEFAULTS.leverage
    funding: bool | None = None  # default: true for linear and inverse
    maintenance_margin_rate: float | None = Field(default=None, ge=0, le=0.5, strict=True)
    # Orders, sizing and intrabar fills (docs/simulation.md).
    entry_order: EntryOrder = "market"
    maker_fee_rate: float = Field(default=DEFAULTS.maker_fee_rate, ge=0, le=0.1, strict=True)
    max_bars_in_trade: MaxBarsInTrade = None
    sizing: Sizing = Field(default_factory=lambda: FractionSizing(method="fraction"))
    fill_detail: IntervalText | None = None

    @model_validator(mode="after")
    def _one_symbol_or_a_portfolio(self) -> Self:
        if self.symbols is None:
            if not self.symbol:
                raise field_error("BacktestSpec", "symbol", "give `symbol`, or `symbols`", None)
            if self.portfolio is not None:
                raise field_error("BacktestSpec", "portfolio", "a portfolio needs `symbols`", None)
            return self
        if "symbol" in self.model_fields_set:
            raise field_error(
                "BacktestSpec", "symbol", "give `symbol` or `symbols`, not both", self.symbol
            )
        seen: set[str] = set()
        for i, name in enumerate(self.symbols):
            if name in seen:
                raise field_error("BacktestSpec", f"symbols.{i}", f"{name} is listed twice", name)
            seen.add(name)
        bars = max(1, (self.end_ms - self.start_ms) // interval_ms(self.interval) + 1)
        if bars * len(self.symbols) > MAX_SYMBOL_BARS:
            raise field_error(
                "BacktestSpec",
                "symbols",
                f"{len(self.symbols)} symbols x {bars} bars is over {MAX_SYMBOL_BARS:,} "
                "symbol-bars; shorten the range or list fewer symbols",
                len(self.symbols),
            )
        object.__setattr__(self, "symbol", self.symbols[0])
        portfolio = self.portfolio or PortfolioSpec()
        if portfolio.max_positions is None:
            portfolio = portfolio.model_copy(update={"max_positions": len(self.symbols)})
        object.__setattr__(self, "portfolio", portfolio)
        self._refuse_outside_portfolios()
        return self

    def _refuse_outside_portfolios(self) -> None:
        """What portfolios do not simulate yet is refused, never ignored."""
        refused = {
            "entry_order": self.entry_order != "market",
            "fill_detail": self.fill_detail is not None,
        }
        for field, given in refused.items():
            if given:
                raise field_error(
                    "BacktestSpec",
                    field,
                    "not available in portfolios yet",
                    None,
                )

    @property
    def is_portfolio(self) -> bool:
        return self.symbols is not None

    @model_serializer(mode="wrap")
    def _request_form(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # A one-symbol request is stored as before; a portfolio without `symbol`.
        dumped: dict[str, Any] = handler(self)
        if self.symbols is None:
            dumped.pop("symbols", None)
            dumped.pop("portfolio", None)
        else:
            dumped.pop("symbol", None)
        return dumped

    @model_validator(mode="after")
    def _orders_and_detail(self) -> Self:
        if isinstance(self.sizing, RiskSizing) and self.stop_loss is None:
            raise field_error(
                "BacktestSpec",
                "sizing",
                "risk sizing needs a stop_loss (a fraction or an ATR multiple)",
                self.sizing.model_dump(),
            )
        if self.fill_detail is not None and not detail_divides(self.fill_detail, self.interval):
            raise field_error(
                "BacktestSpec",
                "fill_detail",
                f"must be a shorter interval that divides the interval {self.interval}",
                self.fill_detail,
            )
        return self

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
            object.__setattr__(self, "maintenance_margin_rate", DEFAULTS.maintenance_margin_rate)
        self._check_rules_fit_market()
        return self

    def config(self) -> BacktestConfig:
        """The request in the domain's terms (parsed once, on each side of the queue): the
        settings it converts, and every other execution setting copied from the request field
        of the same name."""
        entry = self.strategy.entry()
        converted: dict[str, Any] = {
            "stop_loss": core_stop(self.stop_loss),
            "take_profit": core_stop(self.take_profit),
            "trailing_stop": core_stop(self.trailing_stop),
            "contract": self.category,
            "funding": bool(self.funding),
            "maintenance_margin_rate": self.maintenance_margin_rate or 0.0,
            "entry_order": core_entry_order(self.entry_order),
            "risk": self.sizing.risk if isinstance(self.sizing, RiskSizing) else None,
        }
        same = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(ExecutionSettings)
            if f.name not in converted
        }
        execution = ExecutionSettings(**converted, **same)
        return BacktestConfig(
            entry.name, self.strategy.resolved_params, self.interval, execution, entry
        )

    def _check_rules_fit_market(self) -> None:
        """An expression strategy's rules use only series this request has and `htf`
        intervals longer than its own (a saved strategy is checked once resolved)."""
        try:
            entry = self.strategy.entry()
        except ValueError:
            return  # a saved strategy, checked once the API has written it out
        if self.portfolio is not None and self.portfolio.rank is not None:
            try:
                rank = parse_rank(self.portfolio.rank, entry)
                check_rule_market("rank", rank, self.interval, self.category, bool(self.funding))
            except ExpressionError as exc:
                raise field_error(
                    "BacktestSpec", "portfolio.rank", exc.message, self.portfolio.rank
                ) from None
        if entry.kind != "expression":
            return
        try:
            check_market(definition_of(entry), self.interval, self.category, bool(self.funding))
        except ExpressionError as exc:
            raise field_error(
                "BacktestSpec", f"strategy.definition.{exc.field}", exc.message, None
            ) from None

    @property
    def uses_atr(self) -> bool:
        stops = (self.stop_loss, self.take_profit, self.trailing_stop)
        return any(isinstance(s, AtrStop) for s in stops)

    @property
    def warmup_bars_asked(self) -> int:
        """`warmup_bars` as a number of bars (after a saved strategy is resolved); "auto" also
        warms the ATR of ATR stops."""
        strategy = warmup_bars(
            self.warmup_bars, self.strategy.entry(), self.strategy.resolved_params, self.interval
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


def _field_adapter(name: str) -> TypeAdapter[Any]:
    """A validator of one BacktestSpec field's values, with the field's own constraints."""
    info = BacktestSpec.model_fields[name]
    return TypeAdapter(cast(Any, Annotated[info.annotation, *info.metadata]))


# The backtest fields an optimization's param_grid may vary, each validated as in a backtest.
EXECUTION_GRID_FIELDS: dict[str, TypeAdapter[Any]] = {
    name: _field_adapter(name) for name in GRIDABLE_FIELDS
}
