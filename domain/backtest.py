"""The engine core's public surface: `run_backtest(candles, spec) -> BacktestResult`.

Also the two halves an optimizer calls separately: targets from an `IndicatorCache`
(shared by every parameter set on the same candles) and `simulate_targets` on them.
"""

import math
from dataclasses import dataclass
from typing import Any, TypedDict

import numpy as np
import numpy.typing as npt
import polars as pl

from domain import indicators
from domain.execution.config import BacktestConfig
from domain.execution.fill_detail import FillDetail, lay_out_detail
from domain.execution.kernel import (
    Kernel,
    KernelBars,
    KernelDetail,
    KernelSettings,
    no_detail,
    simulate_kernel,
    trade_capacity,
    trade_returns,
)
from domain.execution.settings import (
    EXIT_LIQUIDATION,
    EXIT_REASONS,
    AtrMultiple,
    ExecutionSettings,
    Stop,
)
from domain.market.candles import Candles
from domain.market.intervals import interval_label
from domain.market.market_events import MarketEvents, market_events
from domain.market.perp_market import PerpMarket
from domain.metrics.performance import Metric, buy_and_hold_return, compute_metrics, span_of
from domain.metrics.trade_details import TradeDetails, trade_details
from domain.targets.indicator_cache import IndicatorCache
from domain.targets.signals import Targets
from domain.targets.strategy_targets import StrategyTargets


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
    details: TradeDetails  # per trade, aligned with `trades`
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
    detail: KernelDetail | None = None,
    entry_size: FloatColumn | None = None,
) -> Any:
    """The compiled fill loop on contiguous (open, high, low, close) and int8 targets, with
    the perpetual's `market` over the same bars (none: the candles are the mark and no
    funding is stored, so none is booked), the `fill_detail` candles laid out for them
    (see `fill_detail.lay_out_detail`; none: every bar is checked alone) and each entry's
    share of `position_size` at its signal bar (none: all of it)."""
    open_, high, low, close = prices
    mark = (open_, high, low) if market is None else _mark_columns(market, close.size)
    funding_at_open = funding_inside = np.empty(0)
    if execution.funding and market is not None:
        funding_at_open = market.funding_rate[: close.size]
        funding_inside = market.funding_inside[: close.size]
    events = _kernel_events(market, mark, execution)
    atr = (
        indicators.atr(high, low, close, execution.atr_period)
        if execution.uses_atr
        else np.empty(0)
    )
    bars = KernelBars(
        *prices,
        targets,
        np.ascontiguousarray(atr, np.float64),
        *mark,
        np.ascontiguousarray(funding_at_open, np.float64),
        np.ascontiguousarray(funding_inside, np.float64),
        np.empty(0)
        if entry_size is None
        else np.ascontiguousarray(entry_size[: close.size], np.float64),
        events.funding_bars,
        events.mark_lowest,
        events.mark_highest,
        events.block_offset,
    )
    settings = kernel_settings(execution, targets, trade_from)
    return simulate_kernel(bars, no_detail() if detail is None else detail, settings)


def kernel_settings(
    execution: ExecutionSettings, targets: npt.NDArray[np.int8], trade_from: int
) -> KernelSettings:
    """The kernel's record of `execution` for these targets: the settings it derives, and every
    other field of the record copied from the execution setting of the same name (so a new
    plain setting needs no line here)."""
    limit = execution.entry_order
    derived: dict[str, Any] = {
        "trade_from": trade_from,
        "max_trades": trade_capacity(targets, trade_from),
        "fill_at_close": execution.fill == "close",
        "slippage": float(execution.slippage_bps) / 10_000,
        "stop_loss": _fraction(execution.stop_loss),
        "take_profit": _fraction(execution.take_profit),
        "trailing_stop": _fraction(execution.trailing_stop),
        "stop_loss_atr": _atr_multiple(execution.stop_loss),
        "take_profit_atr": _atr_multiple(execution.take_profit),
        "trailing_stop_atr": _atr_multiple(execution.trailing_stop),
        "limit_entries": limit is not None,
        "limit_offset": 0.0 if limit is None else float(limit.offset),
        "limit_valid_bars": 1 if limit is None else int(limit.valid_bars),
        "max_bars_in_trade": int(execution.max_bars_in_trade or 0),
        "risk": math.nan if execution.risk is None else float(execution.risk),
    }
    kinds = KernelSettings.__annotations__
    same = {
        name: kinds[name](getattr(execution, name))
        for name in KernelSettings._fields
        if name not in derived
    }
    return KernelSettings(**derived, **same)


def _kernel_events(
    market: PerpMarket | None,
    mark: tuple[FloatColumn, FloatColumn, FloatColumn],
    execution: ExecutionSettings,
) -> MarketEvents:
    """Of the market's events, what the kernel reads: its funding bars when funding is booked,
    its mark's reach when a position can be liquidated (without a market, the candles')."""
    funding = execution.funding and market is not None
    if not (funding or execution.liquidates):
        return _NO_EVENTS
    events = market_events(*mark, np.empty(0), np.empty(0)) if market is None else market.events()
    none = _NO_EVENTS
    return MarketEvents(
        events.funding_bars if funding else none.funding_bars,
        events.mark_lowest if execution.liquidates else none.mark_lowest,
        events.mark_highest if execution.liquidates else none.mark_highest,
        events.block_offset,
    )


_NO_EVENTS = MarketEvents(np.empty(0, np.int64), np.empty(0), np.empty(0))


def _mark_columns(market: PerpMarket, bars: int) -> tuple[FloatColumn, FloatColumn, FloatColumn]:
    columns = (market.mark_open, market.mark_high, market.mark_low)
    return tuple(np.ascontiguousarray(c[:bars], np.float64) for c in columns)  # type: ignore[return-value]


def kernel_returns(kernel: Kernel, execution: ExecutionSettings) -> npt.NDArray[np.float64]:
    """Each trade's `return` (in coin terms for inverse contracts)."""
    return trade_returns(kernel.pnl, kernel.qty, kernel.entry_price, execution.inverse)


class PerpMetrics(TypedDict):
    funding_paid: float
    liquidations: int
    unfilled_orders: int


def perp_metrics(kernel: Kernel) -> PerpMetrics:
    """`funding_paid` and `liquidations`, from the trades, and `unfilled_orders`: the
    metrics the kernel counts beside the equity curve."""
    return {
        "funding_paid": float(kernel.funding.sum()),
        "liquidations": int(np.count_nonzero(kernel.exit_reason == EXIT_LIQUIDATION)),
        "unfilled_orders": int(kernel.unfilled_orders),
    }


def _fraction(stop: Stop) -> float:
    return float(stop) if isinstance(stop, float | int) else math.nan


def _atr_multiple(stop: Stop) -> float:
    return float(stop.k) if isinstance(stop, AtrMultiple) else math.nan


def stop_warnings(without_atr: int, execution: ExecutionSettings) -> tuple[str, ...]:
    """What a user should know about how the stops they asked for applied: `without_atr`
    trades had no ATR for their ATR stops."""
    if without_atr == 0:
        return ()
    trades = "trade" if without_atr == 1 else "trades"
    sized = " (sized at the position_size cap)" if execution.risk is not None else ""
    return (
        f"{without_atr} {trades} had no ATR({execution.atr_period}) yet at the fill, "
        f"so no ATR stop{sized}",
    )


def detail_warnings(bars_without: int, execution: ExecutionSettings) -> tuple[str, ...]:
    """How many traded bars `fill_detail` could not resolve."""
    if bars_without == 0 or execution.fill_detail is None:
        return ()
    bars = "bar" if bars_without == 1 else "bars"
    return (
        f"{bars_without} {bars} without {interval_label(execution.fill_detail)} detail; "
        "checked on the bar alone",
    )


def simulate_targets(
    candles: Candles,
    targets: Targets,
    execution: ExecutionSettings,
    interval: str,
    trade_from: int = 0,
    trade_to: int | None = None,
    market: PerpMarket | None = None,
    detail: FillDetail | None = None,
    entry_size: FloatColumn | None = None,
) -> BacktestResult:
    """Fills, equity and metrics for precomputed targets over bars [trade_from, trade_to),
    `market` the perpetual's mark price and funding on the same candles, `detail` the
    `fill_detail` candles over them, `entry_size` each entry's share of `position_size` at
    its signal bar (from a `size` rule).

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

    prices = contiguous_prices(candles, end)
    laid_out = lay_out_detail(candles, interval, detail, market, execution.funding)
    kernel = run_kernel(
        prices,
        np.ascontiguousarray(targets[:end], np.int8),
        trade_from,
        execution,
        market,
        laid_out.kernel,
        entry_size,
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
    details = trade_details(
        kernel, prices, execution.fill == "close", float(execution.slippage_bps) / 10_000
    )
    time = open_time[trade_from:end]
    metrics = compute_metrics(
        kernel.equity,
        span_of(time),
        interval,
        execution.initial_capital,
        closed_pnl=trades.pnl[closed],
        closed_returns=trades.returns[closed],
        num_trades=len(trades),
        fees_paid=float(trades.fees.sum()),
        bars_held=kernel.bars_held,
        **perp_metrics(kernel),
        closed_sides=trades.side[closed],
        closed_bars_held=details.bars_held[closed],
        benchmark_return=benchmark(prices, trade_from),
    )
    warnings = stop_warnings(kernel.without_atr, execution)
    if detail is not None:
        warnings += detail_warnings(laid_out.bars_without(trade_from, end), execution)
    return BacktestResult(time, kernel.equity, trades, metrics, details, warnings)


def benchmark(prices: Prices, trade_from: int) -> float | None:
    """Buy and hold over the traded bars of `prices` (cut where trading ends)."""
    open_, _, _, close = prices
    if close.size <= trade_from:
        return None
    return buy_and_hold_return(open_[trade_from], close[-1])


def run_backtest(
    candles: Candles,
    config: BacktestConfig,
    trade_from: int = 0,
    trade_to: int | None = None,
    cache: IndicatorCache | None = None,
    market: PerpMarket | None = None,
    detail: FillDetail | None = None,
) -> BacktestResult:
    """Simulate a strategy over `candles`; pass `cache` to reuse a built-in's indicators.

    `trade_from` / `trade_to` bound the traded bars, `market` is the perpetual's and
    `detail` the `fill_detail` candles, as in `simulate_targets`.
    """
    own = IndicatorCache(candles, shared=False) if cache is None else cache
    strategy = StrategyTargets(
        config.strategy_entry(), candles, own, interval=config.interval, market=market
    )
    targets, entry_size = strategy.sized(config.params, config.execution.direction, trade_from)
    strategy.guard(config.params)
    return simulate_targets(
        candles,
        targets,
        config.execution,
        config.interval,
        trade_from,
        trade_to,
        market,
        detail,
        entry_size,
    )
