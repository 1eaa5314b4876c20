"""The pure simulation core: candles and a request in, trades, equity and metrics out."""

from services.engine.core.backtest import (
    BacktestConfig,
    BacktestResult,
    ExecutionSettings,
    Trades,
    run_backtest,
    simulate_targets,
)
from services.engine.core.indicator_cache import IndicatorCache
from services.engine.core.metrics import compute_metrics
from services.engine.core.signals import target_positions

__all__ = [
    "BacktestConfig",
    "BacktestResult",
    "ExecutionSettings",
    "IndicatorCache",
    "Trades",
    "compute_metrics",
    "run_backtest",
    "simulate_targets",
    "target_positions",
]
