"""Hypothesis strategies of markets, strategies with their parameters and execution settings,
for the property tests."""

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from domain.execution.settings import ExecutionSettings
from domain.market.candles import Candles
from domain.strategies import STRATEGIES, ParamSpec, StrategyEntry


def _small(param: ParamSpec) -> st.SearchStrategy[int | float]:
    # Windows short enough to trade inside the generated markets' 30-120 bars.
    if param.type is int:
        return st.integers(int(param.minimum), min(int(param.maximum), 12))
    return st.floats(param.minimum, param.maximum, exclude_min=param.minimum_exclusive)


def _params_of(entry: StrategyEntry) -> st.SearchStrategy[tuple[str, dict[str, int | float]]]:
    params = st.fixed_dictionaries({p.name: _small(p) for p in entry.params})
    return params.filter(lambda p: entry.broken_rule(p) is None).map(lambda p: (entry.name, p))


# Every strategy of the registry, with parameters drawn inside its bounds and rules.
strategies_with_params = st.sampled_from(list(STRATEGIES)).flatmap(_params_of)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

moves = arrays(np.float64, st.integers(30, 120), elements=st.floats(-0.01, 0.01))
wicks = st.floats(0.0, 0.01)


def market(close_moves: np.ndarray, wick: float, gap: float) -> Candles:
    """Bars of a bounded random walk: each open gaps from the previous close."""
    close = 100 * np.cumprod(1 + close_moves)
    open_ = np.concatenate([[100.0], close[:-1]]) * (1 + gap * np.sign(close_moves))
    high = np.maximum(open_, close) * (1 + wick)
    low = np.minimum(open_, close) * (1 - wick)
    n = close.size
    return Candles(
        np.arange(n, dtype=np.int64) * 60_000, open_, high, low, close, np.ones(n), np.ones(n)
    )


executions = st.builds(
    ExecutionSettings,
    fee_rate=st.sampled_from([0.0, 0.001]),
    slippage_bps=st.sampled_from([0.0, 5.0]),
    direction=st.sampled_from(["long_only", "short_only", "long_short"]),
    fill=st.sampled_from(["next_open", "close"]),
    position_size=st.sampled_from([1.0, 0.5]),
    stop_loss=st.sampled_from([None, 0.005]),
    take_profit=st.sampled_from([None, 0.01]),
)
