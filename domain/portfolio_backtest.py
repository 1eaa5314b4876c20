"""A portfolio backtest: many symbols' candles, one strategy, one account
(docs/simulation.md, "Portfolios"): `run_portfolio(series, config, portfolio) ->
PortfolioResult`.

Each symbol gets its own targets (and `size` shares and `rank`) from its own candles, warm-up
included, exactly as a one-symbol backtest computes them; the union of their traded bars is
the timeline the compiled loop (`execution/portfolio.py`) walks.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from domain import indicators
from domain.backtest import Trades, kernel_settings, stop_warnings
from domain.compiled_cache import njit
from domain.execution.config import BacktestConfig
from domain.execution.kernel import trade_capacity, trade_returns
from domain.execution.portfolio import (
    PortfolioBars,
    PortfolioKernel,
    UnionTimeline,
    simulate_portfolio,
)
from domain.execution.settings import EXIT_LIQUIDATION, ExecutionSettings
from domain.market.candles import PRICE_FIELDS, Candles
from domain.market.intervals import DAY_MS, add_intervals, interval_ms
from domain.market.perp_market import PerpMarket
from domain.metrics.performance import Metric, buy_and_hold_return, compute_metrics, span_of
from domain.metrics.trade_details import TradeDetails, bars_held, excursions, fill_places
from domain.strategies.rank_rule import parse_rank
from domain.targets.ranks import rank_values
from domain.targets.strategy_targets import StrategyTargets

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Every = Literal["D", "W", "M"] | int


@dataclass(frozen=True)
class SymbolSeries:
    """One symbol's candles (its warm-up first: `trade_from` bars before the range) and, for
    a perpetual, its mark price and funding on the same candles."""

    symbol: str
    candles: Candles
    trade_from: int
    market: PerpMarket | None = None


@dataclass(frozen=True)
class PortfolioRules:
    """K, the `rank` rule (None: the order of `symbols`) and the rotation period (None:
    slots)."""

    max_positions: int
    rank: str | None = None
    rebalance: Every | None = None


@dataclass(frozen=True)
class PortfolioResult:
    time: IntArray  # the union of the symbols' traded open times
    equity: FloatArray  # per union bar, marked at each symbol's latest close
    trades: Trades
    trade_symbols: list[str]  # per trade
    details: TradeDetails
    metrics: dict[str, Metric]
    per_symbol: dict[str, dict[str, Metric]]
    kernel: PortfolioKernel
    warnings: tuple[str, ...] = field(default=())


def series_warmed_on(one: SymbolSeries, warmup: int) -> SymbolSeries:
    """`one` with at most `warmup` of its bars before the range (views, no copies)."""
    first = max(0, one.trade_from - warmup)
    if first == 0:
        return one
    n = len(one.candles)
    candles = Candles(
        one.candles.open_time[first:], *(getattr(one.candles, f)[first:] for f in PRICE_FIELDS)
    )
    market = None if one.market is None else one.market.between(first, n)
    return SymbolSeries(one.symbol, candles, one.trade_from - first, market)


def traded_times(series: Sequence[SymbolSeries]) -> IntArray:
    """The union timeline: every symbol's traded open times, once each, ascending."""
    times = [one.candles.open_time[one.trade_from :] for one in series]
    return np.unique(np.concatenate(times)).astype(np.int64) if times else np.empty(0, np.int64)


def series_between(
    series: Sequence[SymbolSeries], first_time: int, last_time: int, warmup: int
) -> list[SymbolSeries]:
    """Each symbol's bars opening in [first_time, last_time] to trade, with up to `warmup` of
    its bars before them (views); symbols without a bar there are left out (the others keep
    their order)."""
    out = []
    for one in series:
        times = one.candles.open_time
        start = int(np.searchsorted(times, first_time))
        stop = int(np.searchsorted(times, last_time, side="right"))
        if stop <= start:
            continue
        first = max(0, start - warmup)
        candles = Candles(
            times[first:stop], *(getattr(one.candles, f)[first:stop] for f in PRICE_FIELDS)
        )
        market = None if one.market is None else one.market.between(first, stop)
        out.append(SymbolSeries(one.symbol, candles, start - first, market))
    return out


def run_portfolio(
    series: Sequence[SymbolSeries], config: BacktestConfig, rules: PortfolioRules
) -> PortfolioResult:
    """Simulate `config`'s strategy on every series from one account."""
    execution = config.execution
    targets, sizes, ranks = [], [], []
    rank_rule = None if rules.rank is None else parse_rank(rules.rank, config.strategy_entry())
    for i, one in enumerate(series):
        strategy = StrategyTargets(
            config.strategy_entry(), one.candles, interval=config.interval, market=one.market
        )
        target, size = strategy.sized(config.params, execution.direction, one.trade_from)
        strategy.guard(config.params)
        cut = slice(one.trade_from, None)
        targets.append(np.ascontiguousarray(target[cut], np.int8))
        sizes.append(None if size is None else size[cut])
        if rank_rule is None:
            ranks.append(np.full(len(one.candles) - one.trade_from, float(-i)))
        else:
            values = rank_values(rank_rule, one.candles, config.params, config.interval, one.market)
            ranks.append(values[cut])
    return simulate_portfolio_targets(series, targets, sizes, ranks, config, rules)


def simulate_portfolio_targets(
    series: Sequence[SymbolSeries],
    targets: list[npt.NDArray[np.int8]],
    sizes: list[FloatArray | None],
    ranks: list[FloatArray],
    config: BacktestConfig,
    rules: PortfolioRules,
) -> PortfolioResult:
    """The portfolio on precomputed per-symbol targets, `size` shares (None: all) and ranks,
    each over its symbol's traded bars (from `trade_from` on)."""
    execution = config.execution
    bars = _portfolio_bars(series, targets, sizes, ranks, execution)
    time, union = union_timeline(series, config.interval, rules.rebalance, execution.fill)
    capacity = sum(trade_capacity(t, 0) for t in targets)
    if rules.rebalance is not None:
        capacity += int(union.rebalance.sum()) * min(len(series), 2 * rules.max_positions)
    settings = kernel_settings(execution, np.zeros(0, np.int8), 0)._replace(max_trades=capacity)
    kernel = simulate_portfolio(bars, union, settings, rules.max_positions)
    return _result(series, config, bars, time, kernel)


def _portfolio_bars(
    series: Sequence[SymbolSeries],
    targets: list[npt.NDArray[np.int8]],
    sizes: list[FloatArray | None],
    ranks: list[FloatArray],
    execution: ExecutionSettings,
) -> PortfolioBars:
    def column(parts: list[Any]) -> FloatArray:
        return np.ascontiguousarray(np.concatenate(parts), np.float64)

    cut = [slice(one.trade_from, None) for one in series]
    prices = [
        column([getattr(one.candles, name)[c] for one, c in zip(series, cut, strict=True)])
        for name in ("open", "high", "low", "close")
    ]
    marks = prices[:3]  # without a perpetual's market the candles are the mark
    if any(one.market is not None for one in series):
        marks = [
            column(
                [
                    (
                        getattr(one.candles, own)
                        if one.market is None
                        else getattr(one.market, name)
                    )[c]
                    for one, c in zip(series, cut, strict=True)
                ]
            )
            for name, own in (("mark_open", "open"), ("mark_high", "high"), ("mark_low", "low"))
        ]
    with_funding = execution.funding and all(one.market is not None for one in series)
    funding_at_open = funding_inside = np.empty(0)
    if with_funding:
        funding_at_open = column(
            [
                one.market.funding_rate[c]
                for one, c in zip(series, cut, strict=True)
                if one.market is not None
            ]
        )
        funding_inside = column(
            [
                one.market.funding_inside[c]
                for one, c in zip(series, cut, strict=True)
                if one.market is not None
            ]
        )
    lengths = np.array([t.size for t in targets], np.int64)
    stops = np.cumsum(lengths)
    entry_size = np.empty(0)
    if any(s is not None for s in sizes):
        entry_size = column(
            [np.ones(t.size) if s is None else s for t, s in zip(targets, sizes, strict=True)]
        )
    atr = np.empty(0)
    if execution.uses_atr:
        # Each symbol's ATR from its own candles, warm-up included, as one symbol's is.
        atr = column(
            [
                indicators.atr(
                    one.candles.high, one.candles.low, one.candles.close, execution.atr_period
                )[c]
                for one, c in zip(series, cut, strict=True)
            ]
        )
    open_, high, low, close = prices
    mark_open, mark_high, mark_low = marks
    return PortfolioBars(
        open_,
        high,
        low,
        close,
        np.ascontiguousarray(np.concatenate(targets), np.int8),
        column(ranks),
        entry_size,
        atr,
        mark_open,
        mark_high,
        mark_low,
        np.ascontiguousarray(funding_at_open, np.float64),
        np.ascontiguousarray(funding_inside, np.float64),
        np.repeat(np.arange(len(series), dtype=np.int64), lengths),
        stops - lengths,
        stops,
    )


def union_timeline(
    series: Sequence[SymbolSeries], interval: str, every: Every | None, fill: str
) -> tuple[IntArray, UnionTimeline]:
    """The union of the symbols' traded open times, each bar's rows in the order of
    `symbols`, and the rebalance times (empty without rotation)."""
    flat = np.concatenate([one.candles.open_time[one.trade_from :] for one in series])
    union, first, stop, row = _union_rows(flat, interval)
    rebalance = np.zeros(0, np.bool_)
    if every is not None:
        fill_times = union if fill == "next_open" else _ends(union, interval)
        rebalance = rebalance_times(fill_times, every)
    return union, UnionTimeline(first, stop, row, rebalance)


def _union_rows(flat: IntArray, interval: str) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """The distinct times of `flat` ascending, each one's [first, stop) in the row order, and
    the row order: `flat`'s rows stably by time. `flat` runs symbol after symbol, so a stable
    order keeps each bar's rows in the order of `symbols`."""
    if interval != "M" and flat.size > 0:
        on_grid, union, first, stop, row = _grid_union_rows(flat, interval_ms(interval))
        if on_grid:
            return union, first, stop, row
    row = np.argsort(flat, kind="stable")  # months, or times off the interval's grid
    ordered = flat[row]
    first = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    stop = np.append(first[1:], flat.size).astype(np.int64)
    return ordered[first].astype(np.int64), first.astype(np.int64), stop, row.astype(np.int64)


@njit(cache=True)
def _grid_union_rows(
    flat: IntArray, step: int
) -> tuple[bool, IntArray, IntArray, IntArray, IntArray]:
    """`_union_rows` by a counting sort over the interval's grid of slots, in two passes;
    False first when a time is off the grid."""
    empty = np.empty(0, np.int64)
    lowest = flat.min()
    slots = (flat.max() - lowest) // step + 1
    starts = np.zeros(slots + 1, np.int64)
    for t in flat:
        slot = _slot(t, lowest, step)
        if slot < 0:
            return False, empty, empty, empty, empty
        starts[slot + 1] += 1
    bars = 0
    for slot in range(slots):
        bars += starts[slot + 1] > 0
        starts[slot + 1] += starts[slot]
    union = np.empty(bars, np.int64)
    first = np.empty(bars, np.int64)
    stop = np.empty(bars, np.int64)
    u = 0
    for slot in range(slots):
        if starts[slot + 1] > starts[slot]:
            union[u] = lowest + slot * step
            first[u] = starts[slot]
            stop[u] = starts[slot + 1]
            u += 1
    row = np.empty(flat.size, np.int64)
    for r in range(flat.size):
        slot = _slot(flat[r], lowest, step)
        row[starts[slot]] = r
        starts[slot] += 1
    return True, union, first, stop, row


@njit(cache=True, inline="always")
def _slot(time: int, lowest: int, step: int) -> int:
    """(time - lowest) / step, -1 off the grid; a float division, which is exact on the grid
    (offsets are far below 2**53) and several times cheaper than an integer one."""
    slot = int((time - lowest) / step)
    return slot if lowest + slot * step == time else -1


def _ends(open_time: IntArray, interval: str) -> IntArray:
    return np.array([add_intervals(int(t), interval, 1) for t in open_time], np.int64)


def rebalance_times(fill_times: IntArray, every: Every) -> npt.NDArray[np.bool_]:
    """The first fill time, then the first of each new UTC day, Monday-started week or month,
    or every `every`-th fill time from the first."""
    if isinstance(every, int):
        numbered: npt.NDArray[np.bool_] = np.arange(fill_times.size) % every == 0
        return numbered
    days = fill_times // DAY_MS
    if every == "D":
        period = days
    elif every == "W":
        period = (days + 3) // 7  # 1970-01-01 was a Thursday; weeks start on Monday
    else:
        period = fill_times.astype("datetime64[ms]").astype("datetime64[M]").astype(np.int64)
    changed = np.ones(fill_times.size, np.bool_)
    changed[1:] = period[1:] != period[:-1]
    return changed


def _result(
    series: Sequence[SymbolSeries],
    config: BacktestConfig,
    bars: PortfolioBars,
    time: IntArray,
    kernel: PortfolioKernel,
) -> PortfolioResult:
    execution = config.execution
    row_time = np.concatenate([one.candles.open_time[one.trade_from :] for one in series])
    still_open = kernel.exit_bar < 0
    trades = Trades(
        side=kernel.side,
        entry_time=row_time[kernel.entry_bar],
        entry_price=kernel.entry_price,
        exit_time=np.where(still_open, -1, row_time[np.maximum(kernel.exit_bar, 0)]),
        exit_price=kernel.exit_price,
        qty=kernel.qty,
        pnl=kernel.pnl,
        returns=trade_returns(kernel.pnl, kernel.qty, kernel.entry_price, execution.inverse),
        fees=kernel.fees,
        exit_reason=kernel.exit_reason,
        funding=kernel.funding,
    )
    details = _details(bars, kernel, execution.fill == "close", execution.slippage_bps)
    closed = ~still_open
    benchmarks = [
        b
        for one in series
        if len(one.candles) > one.trade_from
        and (b := buy_and_hold_return(one.candles.open[one.trade_from], one.candles.close[-1]))
        is not None
    ]
    metrics = compute_metrics(
        kernel.equity,
        span_of(time),
        config.interval,
        execution.initial_capital,
        closed_pnl=trades.pnl[closed],
        closed_returns=trades.returns[closed],
        num_trades=len(trades),
        fees_paid=float(trades.fees.sum()),
        bars_held=kernel.bars_held,
        funding_paid=float(kernel.funding.sum()),
        liquidations=int(np.count_nonzero(kernel.exit_reason == EXIT_LIQUIDATION)),
        unfilled_orders=0,
        closed_sides=trades.side[closed],
        closed_bars_held=details.bars_held[closed],
        benchmark_return=float(np.mean(benchmarks)) if benchmarks else None,
    )
    metrics["skipped_entries"] = int(kernel.skipped_entries)
    names = [one.symbol for one in series]
    per_symbol = _per_symbol(names, trades, kernel, time.size)
    return PortfolioResult(
        time,
        kernel.equity,
        trades,
        [names[k] for k in kernel.trade_symbol],
        details,
        metrics,
        per_symbol,
        kernel,
        stop_warnings(kernel.without_atr, execution),
    )


def _per_symbol(
    names: list[str], trades: Trades, kernel: PortfolioKernel, bars: int
) -> dict[str, dict[str, Metric]]:
    """{num_trades, pnl, fees_paid, funding_paid, exposure, win_rate} per symbol."""
    # Each symbol's trades together, in their order (so each sum adds what a mask would).
    order = np.argsort(kernel.trade_symbol, kind="stable")
    bounds = np.searchsorted(kernel.trade_symbol[order], np.arange(len(names) + 1))
    pnl, fees, funding = trades.pnl[order], trades.fees[order], trades.funding[order]
    closed = trades.exit_time[order] >= 0
    out: dict[str, dict[str, Metric]] = {}
    for k, name in enumerate(names):
        mine = slice(bounds[k], bounds[k + 1])
        closed_pnl = pnl[mine][closed[mine]]
        out[name] = {
            "num_trades": int(bounds[k + 1] - bounds[k]),
            "pnl": float(pnl[mine].sum()),
            "fees_paid": float(fees[mine].sum()),
            "funding_paid": float(funding[mine].sum()),
            "exposure": float(kernel.symbol_bars_held[k]) / bars if bars else None,
            "win_rate": int(np.count_nonzero(closed_pnl > 0)) / closed_pnl.size
            if closed_pnl.size
            else None,
        }
    return out


def _details(
    bars: PortfolioBars, kernel: PortfolioKernel, fill_at_close: bool, slippage_bps: float
) -> TradeDetails:
    """mae, mfe, bars held and the return on equity of each trade, by the one-symbol rules
    on its own symbol's rows (a trade still open lives to its symbol's last row)."""
    places = fill_places(
        kernel.side,
        kernel.entry_bar,
        kernel.exit_bar,
        kernel.exit_price,
        kernel.exit_reason,
        bars.symbol_stop[kernel.trade_symbol] - 1,
        fill_at_close,
        slippage_bps / 10_000,
    )
    prices = (bars.open, bars.high, bars.low, bars.close)
    mae, mfe = excursions(prices, kernel.side, kernel.entry_price, kernel.exit_bar, places)
    with np.errstate(divide="ignore", invalid="ignore"):
        equity_return = kernel.pnl / kernel.entry_equity
    n = kernel.side.size
    return TradeDetails(mae, mfe, bars_held(places), equity_return, np.zeros(n, np.int8))
