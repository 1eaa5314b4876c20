"""The pure simulation core: candles and a request in, trades, equity and metrics out.

Its callers import from here only; the modules behind it are private to the core.
"""

from services.engine.core.backtest import (
    AtrMultiple,
    BacktestConfig,
    BacktestResult,
    ExecutionSettings,
    LimitEntry,
    Trades,
    contiguous_prices,
    core_stop,
    kernel_returns,
    perp_metrics,
    run_backtest,
    run_kernel,
    simulate_targets,
)
from services.engine.core.backtest_overfitting import (
    BlockSums,
    Overfitting,
    probability_of_overfitting,
)
from services.engine.core.fill_detail import FillDetail, lay_out_detail
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
from services.engine.core.monte_carlo import MonteCarlo, resample_trades
from services.engine.core.perp_market import PerpMarket, perp_market
from services.engine.core.plugin_targets import StrategyError
from services.engine.core.sharpe_inference import (
    ReturnMoments,
    deflated_sharpe,
    probabilistic_sharpe,
)
from services.engine.core.signals import Direction, target_positions
from services.engine.core.simulate import EXIT_REASONS, Kernel
from services.engine.core.strategy_targets import StrategyTargets

__all__ = [
    "EXIT_REASONS",
    "AtrMultiple",
    "BacktestConfig",
    "BacktestResult",
    "BlockSums",
    "Direction",
    "ExecutionSettings",
    "FillDetail",
    "IndicatorCache",
    "Kernel",
    "LimitEntry",
    "Metric",
    "MonteCarlo",
    "Overfitting",
    "PerpMarket",
    "ReturnMoments",
    "StrategyError",
    "StrategyTargets",
    "Trades",
    "bars_per_year",
    "cagr",
    "compute_metrics",
    "contiguous_prices",
    "core_stop",
    "deflated_sharpe",
    "finite_or_none",
    "kernel_returns",
    "lay_out_detail",
    "perp_market",
    "perp_metrics",
    "probabilistic_sharpe",
    "probability_of_overfitting",
    "resample_trades",
    "run_backtest",
    "run_kernel",
    "sharpe_ratio",
    "simulate_targets",
    "sortino_ratio",
    "target_positions",
]
