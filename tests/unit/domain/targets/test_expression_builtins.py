"""Every built-in strategy and its definition in the expression language agree bar for bar.

On the EURUSD and GOOG samples of the `backtesting` package, for many parameter sets and
every direction: identical targets, hence identical trades, equity and metrics.
"""

import itertools
from typing import Any

import numpy as np
import pytest
from backtesting.test import EURUSD, GOOG
from domain.execution.settings import Direction, ExecutionSettings

from domain.backtest import simulate_targets
from domain.market.candles import Candles
from domain.strategies import BUILTIN_STRATEGIES
from domain.strategies.definitions import Definition, definition_of
from domain.targets.expression_rules import PositionRules, RuleEvaluator
from domain.targets.indicator_cache import IndicatorCache
from domain.targets.signals import target_positions

DIRECTIONS: list[Direction] = ["long_only", "short_only", "long_short"]


def _candles(frame: Any) -> Candles:
    n = len(frame)
    o, h, lo, c, v = (
        frame[k].to_numpy(np.float64) for k in ("Open", "High", "Low", "Close", "Volume")
    )
    return Candles(np.arange(n, dtype=np.int64) * 3_600_000, o, h, lo, c, v, np.zeros(n))


DATA = {"EURUSD": _candles(EURUSD), "GOOG": _candles(GOOG)}

PARAM_SETS: dict[str, list[dict[str, float]]] = {
    "sma_cross": [
        {"fast": f, "slow": s} for f, s in itertools.product([2, 5, 10, 20], [21, 50, 200])
    ],
    "ema_cross": [{"fast": f, "slow": s} for f, s in itertools.product([3, 12, 30], [31, 60])],
    "macd": [
        {"fast": f, "slow": s, "signal": g}
        for f, s, g in itertools.product([5, 12], [26, 40], [3, 9])
    ],
    "rsi_reversion": [
        {"period": p, "lower": lo, "upper": up}
        for p, lo, up in itertools.product([2, 14, 30], [20.0, 30.0], [70.0, 85.5])
    ],
    "bollinger_reversion": [
        {"period": p, "k": k} for p, k in itertools.product([2, 20, 50], [0.5, 2.0, 3.25])
    ],
    "donchian_breakout": [{"period": p} for p in (1, 5, 20, 55)],
}


BUILTINS = {entry.name: entry for entry in BUILTIN_STRATEGIES}


def rules_of(definition: Definition) -> PositionRules:
    nodes = definition.rule_nodes()
    return PositionRules(
        *(nodes.get(f) for f in ("long_entry", "long_exit", "short_entry", "short_exit"))
    )


def test_every_builtin_has_a_definition():
    assert set(BUILTINS) == set(PARAM_SETS)
    for entry in BUILTIN_STRATEGIES:
        definition = definition_of(entry)
        assert [p.name for p in definition.params] == [p.name for p in entry.params]
        assert definition.long_entry is not None and definition.short_entry is not None


@pytest.mark.parametrize("data", sorted(DATA))
@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_a_builtin_and_its_definition_give_the_same_trades(name: str, data: str):
    candles = DATA[data]
    cache = IndicatorCache(candles)
    evaluator = RuleEvaluator(candles)
    rules = PositionRules.of(definition_of(BUILTINS[name]))
    execution = ExecutionSettings(fee_rate=0.001, slippage_bps=2.0, direction="long_short")
    compared = 0
    for params, direction in itertools.product(PARAM_SETS[name], DIRECTIONS):
        builtin = target_positions(cache, name, params, direction)
        expressed = evaluator.targets(rules, params, direction)
        np.testing.assert_array_equal(expressed, builtin, err_msg=f"{name} {params} {direction}")
        if direction == "long_short":
            ours = simulate_targets(candles, expressed, execution, "60")
            theirs = simulate_targets(candles, builtin, execution, "60")
            assert ours.metrics == theirs.metrics
            np.testing.assert_array_equal(ours.equity, theirs.equity)
        compared += int(np.count_nonzero(builtin))
    assert compared > 0, "the parameter sets must produce some positions"
