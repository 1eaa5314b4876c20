"""Strategy plugins: loading never fails a service, user code fails with a reason naming the
file and line, and the look-ahead guard catches a plugin that reads later bars."""

import math
from pathlib import Path

import numpy as np
import pytest
from backtesting.test import GOOG

from domain.market.candles import Candles
from domain.strategies.plugins import load_plugins
from domain.targets.plugin_targets import (
    StrategyError,
    look_ahead_violation,
    plugin_targets,
    raw_plugin_targets,
)

ROOT = Path(__file__).resolve().parents[2]
TEST_PLUGINS = ROOT / "tests" / "plugins"
EXAMPLES = ROOT / "examples" / "strategies"

_o, _h, _l, _c, _v = (
    GOOG[k].to_numpy(np.float64) for k in ("Open", "High", "Low", "Close", "Volume")
)
CANDLES = Candles(np.arange(_c.size, dtype=np.int64) * 86_400_000, _o, _h, _l, _c, _v, _v * _c)
PLUGINS = load_plugins(f"{TEST_PLUGINS}:{EXAMPLES}:/nonexistent")


def test_each_file_is_one_strategy_and_underscore_files_are_skipped():
    assert set(PLUGINS) == {
        "bad_metadata",
        "fails_to_import",
        "honest_momentum",
        "peeks_ahead",
        "raises",
        "too_slow",
        "vol_breakout",
        "wrong_length",
        "wrong_values",
    }


def test_broken_files_are_listed_unavailable_with_their_error():
    assert not PLUGINS["fails_to_import"].entry().available
    error = PLUGINS["fails_to_import"].error or ""
    assert "ModuleNotFoundError" in error and "fails_to_import.py:1" in error
    assert (
        PLUGINS["bad_metadata"].error == "PARAMS.period.default: must lie within minimum..maximum"
    )
    assert PLUGINS["honest_momentum"].error is None and PLUGINS["vol_breakout"].error is None
    assert len(PLUGINS["vol_breakout"].sha256) == 64


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("raises", "strategy error: ZeroDivisionError: division by zero (raises.py:6)"),
        ("wrong_length", "returned 2 values for 2148 candles"),
        ("wrong_values", "returned 2 at bar 0; targets must be -1, 0 or 1"),
        ("fails_to_import", "strategy fails_to_import is unavailable"),
    ],
)
def test_failing_user_code_gives_a_reason(name: str, reason: str):
    with pytest.raises(StrategyError) as caught:
        raw_plugin_targets(PLUGINS[name], CANDLES, {})
    assert reason in str(caught.value)


def test_nan_counts_as_flat_and_direction_applies_afterwards():
    plugin = PLUGINS["honest_momentum"]
    both = plugin_targets(plugin, CANDLES, {"period": 5}, "long_short")
    assert both[:5].tolist() == [0] * 5 and set(both[5:].tolist()) == {-1, 1}
    assert (
        plugin_targets(plugin, CANDLES, {"period": 5}, "long_only").tolist()
        == np.maximum(both, 0).tolist()
    )


def guard(name: str) -> str | None:
    plugin = PLUGINS[name]
    params = {"period": 5, "k": 1.0}

    def compute(candles: Candles) -> np.ndarray:
        return raw_plugin_targets(plugin, candles, params)

    return look_ahead_violation(compute, CANDLES, compute(CANDLES))


def test_the_look_ahead_guard_catches_a_plugin_that_peeks():
    reason = guard("peeks_ahead")
    assert reason is not None and reason.startswith("look-ahead: the target at bar ")
    assert "it used later bars" in reason


def test_the_look_ahead_guard_passes_an_honest_plugin():
    assert guard("honest_momentum") is None
    assert guard("vol_breakout") is None


def slow_vol_breakout(period: int, k: float) -> list[int]:
    """The example plugin's rule written bar by bar."""
    high, low, close = CANDLES.high, CANDLES.low, CANDLES.close
    true_range = [math.nan] + [
        max(high[t] - low[t], abs(high[t] - close[t - 1]), abs(low[t] - close[t - 1]))
        for t in range(1, close.size)
    ]
    atr = [math.nan] * close.size
    # ewm_mean(adjust=False) starts at the first value; min_samples hides the first period-1.
    smoothed = true_range[1]
    for t in range(1, close.size):
        smoothed = true_range[t] if t == 1 else smoothed + (true_range[t] - smoothed) / period
        if t >= period:
            atr[t] = smoothed
    state, out = 0, []
    for t in range(close.size):
        if t >= 2 and not math.isnan(atr[t - 1]) and close[t] > close[t - 1] + k * atr[t - 1]:
            state = 1
        elif t >= 1 and close[t] < close[t - 1]:
            state = 0
        out.append(state)
    return out


def test_the_example_plugin_does_what_it_says():
    got = plugin_targets(PLUGINS["vol_breakout"], CANDLES, {"period": 14, "k": 1.0}, "long_only")
    assert got.tolist() == slow_vol_breakout(14, 1.0)
    assert got.sum() > 10
