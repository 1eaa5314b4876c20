"""Where the time of one backtest, and of one grid set, goes: each part timed alone on the same
inputs (CPU time, best of a few runs), beside the whole timed the same way.

A backtest (`run_backtest`): its targets (indicators and crosses, from a backtest's own
indicator cache, which keeps nothing), the fill kernel, the trade details (mae, mfe, bars
held), the metrics (one compiled function over the curve for its returns, drawdown, sums in
numpy's order and the returns' moments for the PSR); the rest is the trade columns and the
glue between. A grid set (`evaluate_sets`'s loop): its targets from the chunk's shared
indicator cache, the kernel, the set's metrics with its trades' places and returns and its
robustness sums (`sweep_metrics`).
"""

from collections.abc import Callable
from dataclasses import dataclass

from bench.support.timing import best_cpu_seconds
from domain.backtest import (
    benchmark,
    contiguous_prices,
    kernel_returns,
    run_backtest,
    run_kernel,
)
from domain.execution.config import BacktestConfig
from domain.execution.kernel import Kernel
from domain.market.candles import Candles
from domain.metrics.performance import compute_metrics, span_of
from domain.metrics.sweep import sweep_metrics
from domain.metrics.trade_details import bars_held, kernel_places, trade_details
from domain.targets.indicator_cache import IndicatorCache
from domain.targets.signals import target_positions


@dataclass(frozen=True)
class Part:
    name: str
    seconds: float


def _timed(parts: list[tuple[str, Callable[[], object]]], repeats: int) -> list[Part]:
    return [Part(name, best_cpu_seconds(run, repeats)) for name, run in parts]


def _with_rest(whole: Part, parts: list[Part]) -> list[Part]:
    rest = max(whole.seconds - sum(p.seconds for p in parts), 0.0)
    return [whole, *parts, Part("the rest (trade columns, glue)", rest)]


def backtest_parts(candles: Candles, config: BacktestConfig, repeats: int) -> list[Part]:
    """The whole backtest first, then its parts and what they leave."""
    execution = config.execution
    direction = execution.direction
    prices = contiguous_prices(candles)
    targets = target_positions(IndicatorCache(candles), config.strategy, config.params, direction)
    kernel = run_kernel(prices, targets, 0, execution)
    fill_at_close, slippage = execution.fill == "close", float(execution.slippage_bps) / 10_000
    details = trade_details(kernel, prices, fill_at_close, slippage)
    closed = kernel.exit_bar >= 0
    returns = kernel_returns(kernel, execution)

    def metrics() -> object:
        return compute_metrics(
            kernel.equity,
            span_of(candles.open_time),
            config.interval,
            execution.initial_capital,
            closed_pnl=kernel.pnl[closed],
            closed_returns=returns[closed],
            num_trades=int(kernel.side.size),
            fees_paid=float(kernel.fees.sum()),
            bars_held=kernel.bars_held,
            closed_sides=kernel.side[closed],
            closed_bars_held=details.bars_held[closed],
            benchmark_return=benchmark(prices, 0),
        )

    whole = _timed(
        [("one backtest (run_backtest)", lambda: run_backtest(candles, config))], repeats
    )
    parts = _timed(
        [
            (
                "targets (indicators, crosses)",
                lambda: target_positions(
                    IndicatorCache(candles, shared=False), config.strategy, config.params, direction
                ),
            ),
            ("fill kernel", lambda: run_kernel(prices, targets, 0, execution)),
            (
                "trade details (mae, mfe, bars held)",
                lambda: trade_details(kernel, prices, fill_at_close, slippage),
            ),
            ("metrics (compute_metrics)", metrics),
        ],
        repeats,
    )
    return _with_rest(whole[0], parts)


def grid_set_parts(
    candles: Candles, config: BacktestConfig, cache: IndicatorCache, blocks: int, repeats: int
) -> list[Part]:
    """One set of a grid whose chunk shares `cache` (its indicators already computed)."""
    execution = config.execution
    direction = execution.direction
    prices = contiguous_prices(candles)
    name, params = config.strategy, config.params
    targets = target_positions(cache, name, params, direction)
    kernel = run_kernel(prices, targets, 0, execution)
    last = len(candles) - 1
    fill_at_close, slippage = execution.fill == "close", float(execution.slippage_bps) / 10_000
    first_time, last_time = int(candles.open_time[0]), int(candles.open_time[-1])

    def metrics(kernel: Kernel) -> object:
        places = kernel_places(kernel, last, fill_at_close, slippage)
        return sweep_metrics(
            kernel,
            first_time,
            last_time,
            config.interval,
            execution.initial_capital,
            kernel_returns(kernel, execution),
            blocks,
            trade_bars_held=bars_held(places),
            benchmark_return=benchmark(prices, 0),
        )

    def one_set() -> object:
        set_targets = target_positions(cache, name, params, direction)
        set_kernel = run_kernel(prices, set_targets, 0, execution)
        return metrics(set_kernel)

    return _timed(
        [
            ("one grid set", one_set),
            (
                "targets from the shared indicators",
                lambda: target_positions(cache, name, params, direction),
            ),
            ("fill kernel", lambda: run_kernel(prices, targets, 0, execution)),
            ("metrics and robustness sums (sweep_metrics)", lambda: metrics(kernel)),
        ],
        repeats,
    )


def lines(title: str, parts: list[Part]) -> list[str]:
    """`title`, then each part's milliseconds and share of the first (the whole)."""
    whole = parts[0].seconds
    out = [f"{title}: {whole * 1000:.2f} ms of CPU"]
    for part in parts[1:]:
        share = part.seconds / whole if whole else 0.0
        out.append(f"  - {part.name}: {part.seconds * 1000:.2f} ms ({share:.0%})")
    return out
