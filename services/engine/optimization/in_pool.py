"""What runs in the engine's process pool for an optimization: plain inputs, plain outputs.

A chunk's parameter sets share one indicator cache (each indicator computed once per window
length) and one copy of the price columns; each set is then a compiled simulation and a
compiled pass over its equity.

Each pool process keeps the candles of the ranges it last served (`HeldCandles`), so a chunk
sends only its parameter sets: the candles travel once per process and range, the first time
it raises `CandlesMissing`.
"""

import dataclasses
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from domain.backtest import benchmark, contiguous_prices, kernel_returns, run_backtest, run_kernel
from domain.execution.config import BacktestConfig
from domain.execution.fill_detail import FillDetail, lay_out_detail
from domain.execution.settings import GRIDABLE_FIELDS, GRIDABLE_STOPS, AtrMultiple, Stop
from domain.market.candles import PRICE_FIELDS, Candles
from domain.market.perp_market import PerpMarket
from domain.metrics.performance import Metric
from domain.metrics.sweep import TestRun, sweep_metrics
from domain.metrics.trade_details import bars_held, kernel_places
from domain.optimization.ranking import best_of
from domain.research.robustness import SetStatistics
from domain.research.sharpe_inference import ReturnMoments
from domain.strategies import ParamValue, StrategyEntry
from domain.strategies.warmup import warmup_bars
from domain.targets.strategy_targets import StrategyTargets
from services.engine.optimization.parsed_request import ParsedOptimization

Params = Mapping[str, ParamValue]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class SetResult:
    index: int  # position in the request's combinations(): ties go to the earlier set
    params: dict[str, ParamValue]
    metrics: dict[str, Metric]
    # What the robustness figures need of its per-bar returns (see robustness.py).
    moments: ReturnMoments | None = None
    block_sums: FloatArray = field(default_factory=lambda: np.zeros(0))
    block_squares: FloatArray = field(default_factory=lambda: np.zeros(0))


def set_statistics(results: list[SetResult], bars: int, blocks: int) -> SetStatistics:
    """The robustness statistics of consecutive sets evaluated on `bars` bars."""
    return SetStatistics.of(
        results[0].index if results else 0,
        [r.moments for r in results],
        np.asarray([r.block_sums for r in results], np.float64).reshape(-1, blocks),
        np.asarray([r.block_squares for r in results], np.float64).reshape(-1, blocks),
        bars // blocks,
    )


def best_result(results: list[SetResult], objective: str) -> SetResult:
    return best_of(results, objective, lambda r: r.metrics, lambda r: r.index)


# (category, symbol, interval, start ms, last bar's open ms, bars, warm-up bars before start):
# which candles a chunk runs on (the interval written "60:1" when 1-minute `fill_detail`
# candles go with them).
CandlesKey = tuple[str, str, str, int, int, int, int]
_RANGES_HELD = 2  # per pool process: a year of minutes is about 29 MB


class HeldBars(NamedTuple):
    """The candles of a range, a perpetual's market on the same bars and `fill_detail`'s
    candles over them."""

    candles: Candles
    market: PerpMarket | None
    detail: FillDetail | None


_held: OrderedDict[CandlesKey, HeldBars] = OrderedDict()


class CandlesMissing(Exception):
    """This pool process does not hold the candles: send them with the chunk."""


@dataclass(frozen=True)
class HeldCandles:
    """Candles by their key, with the candles themselves (and a perpetual's market on the
    same bars, and the `fill_detail` candles) only when the process lacks them."""

    key: CandlesKey
    candles: Candles | None = None
    market: PerpMarket | None = None
    detail: FillDetail | None = None

    def get(self) -> Candles:
        return self.bars().candles

    def bars(self) -> HeldBars:
        if self.candles is not None:
            _held[self.key] = HeldBars(self.candles, self.market, self.detail)
            _held.move_to_end(self.key)
            while len(_held) > _RANGES_HELD:
                _held.popitem(last=False)
            return _held[self.key]
        try:
            _held.move_to_end(self.key)
        except KeyError:
            raise CandlesMissing(self.key) from None
        return _held[self.key]


# A range's strategy targets (a built-in's indicators, each window computed once) by the bar
# they start at, kept for the range's next chunks: the sets of one grid share most windows.
# At most this much is kept; past it the next chunk starts afresh.
TARGETS_KEPT_BYTES = 256 * 2**20
_kept_targets: dict[tuple[CandlesKey, int, str], tuple[StrategyEntry, StrategyTargets]] = {}


def _strategy_targets(
    key: CandlesKey | None,
    start: int,
    config: BacktestConfig,
    bars: Candles,
    market: PerpMarket | None,
) -> StrategyTargets:
    """The targets of `config`'s strategy over `bars`, which are the held candles of `key`
    from bar `start` on: those a previous chunk of the range built, if any (None: not held
    candles, built afresh)."""
    entry = config.strategy_entry()
    kept = None if key is None else _kept_targets.get((key, start, config.interval))
    if kept is not None and kept[0] == entry:
        return kept[1]
    made = StrategyTargets(entry, bars, interval=config.interval, market=market)
    if key is not None and made.indicator_cache is not None:
        if any(other != key for other, _, _ in _kept_targets):
            _kept_targets.clear()
        _kept_targets[key, start, config.interval] = (entry, made)
    return made


def _bound_kept_targets() -> None:
    held = sum(
        targets.indicator_cache.nbytes()
        for _, targets in _kept_targets.values()
        if targets.indicator_cache is not None
    )
    if held > TARGETS_KEPT_BYTES:
        _kept_targets.clear()


def bars_between(candles: Candles, start: int, stop: int) -> Candles:
    """Bars [start, stop) as views: what a chunk sends to the pool is only what it needs."""
    return Candles(
        candles.open_time[start:stop], *(getattr(candles, f)[start:stop] for f in PRICE_FIELDS)
    )


def market_between(market: PerpMarket | None, start: int, stop: int) -> PerpMarket | None:
    return None if market is None else market.between(start, stop)


def set_config(config: BacktestConfig, params: Params) -> BacktestConfig:
    """The config of one parameter set: its strategy's parameters, and the backtest fields
    (stops, position size, leverage) the grid varies, in place of the request's."""
    fields = {k: v for k, v in params.items() if k in GRIDABLE_FIELDS}
    strategy = {k: v for k, v in params.items() if k not in fields}
    execution = config.execution
    if fields:
        changed: dict[str, Any] = {
            k: grid_stop(v) if k in GRIDABLE_STOPS else v for k, v in fields.items()
        }
        execution = dataclasses.replace(execution, **changed)
    return dataclasses.replace(config, params=strategy, execution=execution)


def grid_stop(value: Any) -> Stop:
    """A stop of a parameter set as its request holds it (checked when the request was
    parsed): a fraction, `{"atr": k}` or null."""
    return AtrMultiple(float(value["atr"])) if isinstance(value, Mapping) else value


def evaluate_sets(
    candles: Candles,
    run: ParsedOptimization,
    param_sets: Sequence[Params],
    first_index: int,
    warmup_loaded: int = 0,
    market: PerpMarket | None = None,
    detail: FillDetail | None = None,
    key: CandlesKey | None = None,
) -> list[SetResult]:
    """Every set over `candles` but their first `warmup_loaded` bars, on which each set's
    indicators are warmed up as far as its `warmup_bars` takes; the metrics equal
    run_backtest's on the same bars (to rounding). `run`: the request as the consumer parsed
    it; `key`: the held candles' (`candles` are all of them), whose indicators the range's
    chunks share."""
    config = run.config
    execution = config.execution
    # Sets warmed on as many bars share one indicator cache (one per distinct warm-up).
    by_start: dict[int, list[int]] = {}
    configs = [set_config(config, params) for params in param_sets]
    for i, one in enumerate(configs):
        warm = min(
            warmup_bars(run.warmup_bars, one.strategy_entry(), one.params, config.interval),
            warmup_loaded,
        )
        by_start.setdefault(warmup_loaded - warm, []).append(i)
    first_time, last_time = int(candles.open_time[warmup_loaded]), int(candles.open_time[-1])
    # Not gridable: the same for every set.
    fill_at_close, slippage = execution.fill == "close", float(execution.slippage_bps) / 10_000
    results: list[SetResult] = []
    for start, members in by_start.items():
        bars = bars_between(candles, start, len(candles)) if start else candles
        bars_market = market_between(market, start, len(candles)) if start else market
        strategy = _strategy_targets(key, start, config, bars, bars_market)
        prices = contiguous_prices(bars)
        laid_out = lay_out_detail(bars, config.interval, detail, bars_market, execution.funding)
        for i in members:
            one = configs[i]
            trade_from = warmup_loaded - start
            targets, entry_size = strategy.sized(one.params, execution.direction, trade_from)
            kernel = run_kernel(
                prices,
                targets,
                trade_from,
                one.execution,
                bars_market,
                laid_out.kernel,
                entry_size,
            )
            places = kernel_places(kernel, len(bars) - 1, fill_at_close, slippage)
            sweep = sweep_metrics(
                kernel,
                first_time,
                last_time,
                config.interval,
                execution.initial_capital,
                kernel_returns(kernel, one.execution),
                run.robustness_blocks,
                trade_bars_held=bars_held(places),
                benchmark_return=benchmark(prices, trade_from),
            )
            results.append(
                SetResult(
                    first_index + i,
                    dict(param_sets[i]),
                    sweep.metrics,
                    sweep.moments,
                    sweep.block_sums,
                    sweep.block_squares,
                )
            )
    _bound_kept_targets()
    ranked = sorted(results, key=lambda r: r.index)
    _guard_plugin(config, candles, ranked, run.objective, market)
    return ranked


def _guard_plugin(
    config: BacktestConfig,
    candles: Candles,
    results: list[SetResult],
    objective: str,
    market: PerpMarket | None = None,
) -> None:
    """A plugin's first and best set of the chunk pass the look-ahead guard (so do the
    optimization's first and best, which are some chunk's); StrategyError otherwise."""
    entry = config.strategy_entry()
    if entry.plugin is None or not results:
        return
    strategy = StrategyTargets(entry, candles, interval=config.interval, market=market)
    best = best_result(results, objective)
    for result in {id(r): r for r in (results[0], best)}.values():
        strategy.guard(set_config(config, result.params).params)


def run_grid_chunk(
    source: HeldCandles,
    warmup_loaded: int,
    run: ParsedOptimization,
    param_sets: Sequence[Params],
    first_index: int,
) -> tuple[list[SetResult], SetStatistics]:
    candles, market, detail = source.bars()
    results = evaluate_sets(
        candles, run, param_sets, first_index, warmup_loaded, market, detail, source.key
    )
    bars = len(candles) - warmup_loaded
    return results, set_statistics(results, bars, run.robustness_blocks)


def run_train_chunk(
    source: HeldCandles,
    bars: tuple[int, int],
    run: ParsedOptimization,
    param_sets: Sequence[Params],
    first_index: int,
) -> tuple[SetResult, SetStatistics]:
    """A walk-forward train chunk over bars [from, to) alone keeps only its best set, and
    every set's robustness statistics."""
    candles, market, detail = source.bars()
    train = bars_between(candles, *bars)
    market = market_between(market, *bars)
    results = evaluate_sets(train, run, param_sets, first_index, 0, market, detail)
    statistics = set_statistics(results, len(train), run.robustness_blocks)
    return best_result(results, run.objective), statistics


def run_window_sets(
    source: HeldCandles,
    bars: tuple[int, int],
    run: ParsedOptimization,
    param_sets: Sequence[Params],
    first_index: int,
) -> tuple[list[SetResult], SetStatistics]:
    """Every set over bars [from, to) alone (a walk-forward window's Bayesian search needs
    each trial's objective), and their robustness statistics."""
    candles, market, detail = source.bars()
    train = bars_between(candles, *bars)
    results = evaluate_sets(
        train, run, param_sets, first_index, 0, market_between(market, *bars), detail
    )
    return results, set_statistics(results, len(train), run.robustness_blocks)


def run_test_chunk(
    source: HeldCandles, bars: tuple[int, int], run: ParsedOptimization, params: Params
) -> tuple[dict[str, Metric], TestRun]:
    """The chosen set over test bars [from, to) of the held candles, warmed up on as many
    bars before them as the backtest's `warmup_bars` takes (as many as there are): its cost
    is its own bars and the warm-up, wherever the window lies."""
    test_from, test_to = bars
    config = run.config
    warmup = warmup_bars(
        run.warmup_bars, config.strategy_entry(), {**config.params, **params}, config.interval
    )
    first = max(0, test_from - warmup)
    candles, market, detail = source.bars()
    return run_test_window(
        bars_between(candles, first, test_to),
        run,
        params,
        test_from - first,
        market_between(market, first, test_to),
        detail,
    )


def run_test_window(
    candles: Candles,
    run: ParsedOptimization,
    params: Params,
    test_from: int,
    market: PerpMarket | None = None,
    detail: FillDetail | None = None,
) -> tuple[dict[str, Metric], TestRun]:
    """The chosen set over bars [test_from, len(candles)), its indicators warmed up on every
    bar before, starting flat with the initial capital."""
    config = set_config(run.config, {**run.config.params, **params})
    result = run_backtest(candles, config, trade_from=test_from, market=market, detail=detail)
    trades = result.trades
    closed = trades.closed
    test_run = TestRun(
        times=result.time,
        equity=result.equity,
        closed_pnl=trades.pnl[closed].tolist(),
        closed_returns=trades.returns[closed].tolist(),
        bars_held=round((result.metrics["exposure"] or 0.0) * result.equity.size),
        metrics=result.metrics,
    )
    return result.metrics, test_run
