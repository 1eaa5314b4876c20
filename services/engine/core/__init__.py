"""The pure simulation core: candles and a request in, trades, equity and metrics out.

Its callers import from here only; the modules behind it are private to the core.
"""

from services.engine.core.backtest import (
    AtrMultiple,
    BacktestConfig,
    BacktestResult,
    ExecutionSettings,
    Trades,
    contiguous_prices,
    core_stop,
    kernel_returns,
    perp_metrics,
    run_backtest,
    run_kernel,
    simulate_targets,
)
from services.engine.core.indicator_cache import IndicatorCache
from services.engine.core.metrics import (
    Metric,
    bars_per_year,
    cagr,
    compute_metrics,
    finite_or_none,
    sharpe_ratio,
    sortino_ratio,
)
from services.engine.core.perp_market import PerpMarket, perp_market
from services.engine.core.plugin_targets import StrategyError
from services.engine.core.signals import Direction, target_positions
from services.engine.core.simulate import EXIT_REASONS, Kernel
from services.engine.core.strategy_targets import StrategyTargets

__all__ = [
    "EXIT_REASONS",
    "AtrMultiple",
    "BacktestConfig",
    "BacktestResult",
    "Direction",
    "ExecutionSettings",
    "IndicatorCache",
    "Kernel",
    "Metric",
    "PerpMarket",
    "StrategyError",
    "StrategyTargets",
    "Trades",
    "bars_per_year",
    "cagr",
    "compute_metrics",
    "contiguous_prices",
    "core_stop",
    "finite_or_none",
    "kernel_returns",
    "perp_market",
    "perp_metrics",
    "run_backtest",
    "run_kernel",
    "sharpe_ratio",
    "simulate_targets",
    "sortino_ratio",
    "target_positions",
]
