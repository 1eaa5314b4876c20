"""The engine core's public surface: `run_backtest(candles, spec) -> BacktestResult`.

Also the two halves an optimizer calls separately: targets from an `IndicatorCache`
(shared by every parameter set on the same candles) and `simulate_targets` on them.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

import numpy as np
import numpy.typing as npt
import polars as pl
from domain.execution.settings import EXIT_LIQUIDATION, EXIT_REASONS, Direction

from domain import indicators
from domain.execution.kernel import Kernel, simulate_kernel, trade_capacity, trade_returns
from domain.market.candles import Candles
from domain.market.perp_market import PerpMarket
from domain.metrics.performance import Metric, compute_metrics
from domain.strategies import StrategyEntry, strategy_entry
from domain.targets.indicator_cache import IndicatorCache
from domain.targets.signals import Targets
from domain.targets.strategy_targets import StrategyTargets
from shared.backtest_spec import AtrStop, BacktestSpec

Fill = Literal["next_open", "close"]
Contract = Literal["spot", "linear", "inverse"]


@dataclass(frozen=True)
class AtrMultiple:
    """A stop k * ATR(atr_period) away from the fill, that ATR taken as known at the fill."""

    k: float


# A stop as a fraction of the fill price, as a multiple of the ATR, or none.
Stop = float | AtrMultiple | None


@dataclass(frozen=True)
class ExecutionSettings:
    """How targets become fills; the defaults of docs/api.md."""

    initial_capital: float = 10_000.0
    fee_rate: float = 0.00055
    slippage_bps: float = 0.0
    direction: Direction = "long_only"
    fill: Fill = "next_open"
    position_size: float = 1.0
    stop_loss: Stop = None
    take_profit: Stop = None
    trailing_stop: Stop = None
    atr_period: int = 14
    # Perpetuals: the category's contract, its leverage, whether funding is booked (needs a
    # PerpMarket) and the maintenance margin rate of the liquidation price.
    contract: Contract = "spot"
    leverage: float = 1.0
    funding: bool = False
    maintenance_margin_rate: float = 0.005

    @property
    def uses_atr(self) -> bool:
        stops = (self.stop_loss, self.take_profit, self.trailing_stop)
        return any(isinstance(s, AtrMultiple) for s in stops)

    @property
    def inverse(self) -> bool:
        return self.contract == "inverse"

    @property
    def liquidates(self) -> bool:
        """A linear contract above 1x (at 1x it is the spot simulation, bit for bit), and any
        inverse one (an inverse long at 1x still goes bankrupt at half its entry price)."""
        return self.contract == "inverse" or (self.contract == "linear" and self.leverage > 1.0)


@dataclass(frozen=True)
class BacktestConfig:
    """What the core needs of a request: a strategy with complete params.

    `entry` is the strategy as the request resolved it; without one, `strategy` names a
    built-in.
    """

    strategy: str
    params: Mapping[str, int | float]
    interval: str
    execution: ExecutionSettings = field(default_factory=ExecutionSettings)
    entry: StrategyEntry | None = None

    def strategy_entry(self) -> StrategyEntry:
        return self.entry if self.entry is not None else strategy_entry(self.strategy)

    @classmethod
    def from_spec(cls, spec: BacktestSpec) -> "BacktestConfig":
        entry = spec.strategy.entry()
        execution = ExecutionSettings(
            initial_capital=spec.initial_capital,
            fee_rate=spec.fee_rate,
            slippage_bps=spec.slippage_bps,
            direction=spec.direction,
            fill=spec.fill,
            position_size=spec.position_size,
            stop_loss=core_stop(spec.stop_loss),
            take_profit=core_stop(spec.take_profit),
            trailing_stop=core_stop(spec.trailing_stop),
            atr_period=spec.atr_period,
            contract=spec.category,
            leverage=spec.leverage,
            funding=bool(spec.funding),
            maintenance_margin_rate=spec.maintenance_margin_rate or 0.0,
        )
        return cls(entry.name, spec.strategy.resolved_params, spec.interval, execution, entry)


@dataclass(frozen=True)
class Trades:
    """The trade list as columns; exit_time is -1 (null in `frame()`) while still open."""

    side: npt.NDArray[np.int8]
    entry_time: npt.NDArray[np.int64]
    entry_price: npt.NDArray[np.float64]
    exit_time: npt.NDArray[np.int64]
    exit_price: npt.NDArray[np.float64]  # the last close for a trade still open
    qty: npt.NDArray[np.float64]
    pnl: npt.NDArray[np.float64]
    returns: npt.NDArray[np.float64]
    fees: npt.NDArray[np.float64]
    exit_reason: npt.NDArray[np.int8]  # index into EXIT_REASONS
    funding: npt.NDArray[np.float64]  # net paid, negative when received

    def __len__(self) -> int:
        return int(self.side.size)

    def exit_counts(self) -> dict[str, int]:
        """How many trades ended for each reason (a trade still open counts as `end`)."""
        counts = np.bincount(self.exit_reason, minlength=len(EXIT_REASONS))
        return {reason: int(c) for reason, c in zip(EXIT_REASONS, counts, strict=True) if c}

    @property
    def closed(self) -> npt.NDArray[np.bool_]:
        return self.exit_time >= 0

    def frame(self) -> pl.DataFrame:
        """The trade fields of docs/api.md; times as epoch ms, exit_time null while open."""
        return pl.DataFrame(
            {
                "side": np.where(self.side > 0, "long", "short"),
                "entry_time": self.entry_time,
                "entry_price": self.entry_price,
                "exit_time": pl.Series(self.exit_time).replace(-1, None),
                "exit_price": self.exit_price,
                "qty": self.qty,
                "pnl": self.pnl,
                "return": self.returns,
                "fees": self.fees,
                "exit_reason": np.asarray(EXIT_REASONS)[self.exit_reason],
                "funding": self.funding,
            },
            schema_overrides={"exit_time": pl.Int64},
        )

    def records(self) -> list[dict[str, Any]]:
        return self.frame().to_dicts()


@dataclass(frozen=True)
class BacktestResult:
    time: npt.NDArray[np.int64]  # open time of each traded bar
    equity: npt.NDArray[np.float64]  # marked at each bar's close, aligned with `time`
    trades: Trades
    metrics: dict[str, Metric]
    warnings: tuple[str, ...] = ()


FloatColumn = npt.NDArray[np.float64]
Prices = tuple[FloatColumn, FloatColumn, FloatColumn, FloatColumn]  # open, high, low, close


def contiguous_prices(candles: Candles, end: int | None = None) -> Prices:
    def column(values: FloatColumn) -> FloatColumn:
        return np.ascontiguousarray(values[:end], np.float64)

    return column(candles.open), column(candles.high), column(candles.low), column(candles.close)


def run_kernel(
    prices: Prices,
    targets: npt.NDArray[np.int8],
    trade_from: int,
    execution: ExecutionSettings,
    market: PerpMarket | None = None,
) -> Any:
    """The compiled fill loop on contiguous (open, high, low, close) and int8 targets, with
    the perpetual's `market` over the same bars (none: the candles are the mark and no
    funding is stored, so none is booked)."""
    open_, high, low, close = prices
    mark = (open_, high, low) if market is None else _mark_columns(market, close.size)
    funding = (
        market.funding_rate[: close.size]
        if execution.funding and market is not None
        else np.empty(0)
    )
    atr = (
        indicators.atr(high, low, close, execution.atr_period)
        if execution.uses_atr
        else np.empty(0)
    )
    return simulate_kernel(
        *prices,
        targets,
        trade_from,
        execution.fill == "close",
        float(execution.initial_capital),
        float(execution.fee_rate),
        float(execution.slippage_bps) / 10_000,
        float(execution.position_size),
        _fraction(execution.stop_loss),
        _fraction(execution.take_profit),
        trade_capacity(targets, trade_from),
        _atr_multiple(execution.stop_loss),
        _atr_multiple(execution.take_profit),
        _fraction(execution.trailing_stop),
        _atr_multiple(execution.trailing_stop),
        atr,
        execution.inverse,
        float(execution.leverage),
        execution.liquidates,
        float(execution.maintenance_margin_rate),
        *mark,
        np.ascontiguousarray(funding, np.float64),
    )


def _mark_columns(market: PerpMarket, bars: int) -> tuple[FloatColumn, FloatColumn, FloatColumn]:
    columns = (market.mark_open, market.mark_high, market.mark_low)
    return tuple(np.ascontiguousarray(c[:bars], np.float64) for c in columns)  # type: ignore[return-value]


def kernel_returns(kernel: Kernel, execution: ExecutionSettings) -> npt.NDArray[np.float64]:
    """Each trade's `return` (in coin terms for inverse contracts)."""
    return trade_returns(kernel.pnl, kernel.qty, kernel.entry_price, execution.inverse)


class PerpMetrics(TypedDict):
    funding_paid: float
    liquidations: int


def perp_metrics(kernel: Kernel) -> PerpMetrics:
    """`funding_paid` and `liquidations`, from the trades."""
    return {
        "funding_paid": float(kernel.funding.sum()),
        "liquidations": int(np.count_nonzero(kernel.exit_reason == EXIT_LIQUIDATION)),
    }


def core_stop(stop: float | AtrStop | None) -> Stop:
    """A request's stop as the kernel takes it."""
    return AtrMultiple(stop.atr) if isinstance(stop, AtrStop) else stop


def _fraction(stop: Stop) -> float:
    return float(stop) if isinstance(stop, float | int) else math.nan


def _atr_multiple(stop: Stop) -> float:
    return float(stop.k) if isinstance(stop, AtrMultiple) else math.nan


def stop_warnings(kernel: Kernel, execution: ExecutionSettings) -> tuple[str, ...]:
    """What a user should know about how the stops they asked for applied."""
    if kernel.without_atr == 0:
        return ()
    trades = "trade" if kernel.without_atr == 1 else "trades"
    return (
        f"{kernel.without_atr} {trades} had no ATR({execution.atr_period}) yet at the fill, "
        "so no ATR stop",
    )


def simulate_targets(
    candles: Candles,
    targets: Targets,
    execution: ExecutionSettings,
    interval: str,
    trade_from: int = 0,
    trade_to: int | None = None,
    market: PerpMarket | None = None,
) -> BacktestResult:
    """Fills, equity and metrics for precomputed targets over bars [trade_from, trade_to),
    `market` the perpetual's mark price and funding on the same candles.

    Bars before `trade_from` only warmed the indicators: the run starts flat there with the
    initial capital. Bars from `trade_to` on are ignored, as if the data ended there, so
    one set of targets (indicators are causal) serves every window of a walk-forward.
    """
    n = len(candles)
    end = n if trade_to is None else trade_to
    if not 0 <= trade_from <= end <= n:
        raise ValueError(f"trade_from {trade_from} and trade_to {end} must be within 0..{n}")
    if targets.shape != (n,):
        raise ValueError("one target per candle is needed")
    if market is not None and len(market) != n:
        raise ValueError("one mark price and funding rate per candle is needed")

    kernel = run_kernel(
        contiguous_prices(candles, end),
        np.ascontiguousarray(targets[:end], np.int8),
        trade_from,
        execution,
        market,
    )
    open_time = candles.open_time
    still_open = kernel.exit_bar < 0
    trades = Trades(
        side=kernel.side,
        entry_time=open_time[kernel.entry_bar],
        entry_price=kernel.entry_price,
        exit_time=np.where(still_open, -1, open_time[np.maximum(kernel.exit_bar, 0)]),
        exit_price=kernel.exit_price,
        qty=kernel.qty,
        pnl=kernel.pnl,
        returns=kernel_returns(kernel, execution),
        fees=kernel.fees,
        exit_reason=kernel.exit_reason,
        funding=kernel.funding,
    )
    closed = ~still_open
    time = open_time[trade_from:end]
    metrics = compute_metrics(
        kernel.equity,
        time,
        interval,
        execution.initial_capital,
        closed_pnl=trades.pnl[closed],
        closed_returns=trades.returns[closed],
        num_trades=len(trades),
        fees_paid=float(trades.fees.sum()),
        bars_held=kernel.bars_held,
        **perp_metrics(kernel),
    )
    return BacktestResult(time, kernel.equity, trades, metrics, stop_warnings(kernel, execution))


def run_backtest(
    candles: Candles,
    spec: BacktestSpec | BacktestConfig,
    trade_from: int = 0,
    trade_to: int | None = None,
    cache: IndicatorCache | None = None,
    market: PerpMarket | None = None,
) -> BacktestResult:
    """Simulate a strategy over `candles`; pass `cache` to reuse a built-in's indicators.

    `trade_from` / `trade_to` bound the traded bars and `market` is the perpetual's, as in
    `simulate_targets`.
    """
    config = BacktestConfig.from_spec(spec) if isinstance(spec, BacktestSpec) else spec
    strategy = StrategyTargets(config.strategy_entry(), candles, cache)
    targets = strategy(config.params, config.execution.direction)
    strategy.guard(config.params)
    return simulate_targets(
        candles, targets, config.execution, config.interval, trade_from, trade_to, market
    )
