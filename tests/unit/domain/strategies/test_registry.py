"""The one strategy registry: every entry runs in the engine, and the API needs no engine."""

import subprocess
import sys

import numpy as np
import pytest

from domain.market.candles import Candles
from domain.strategies import BUILTIN_STRATEGIES, STRATEGIES, ParamError, StrategyRegistry
from domain.targets.indicator_cache import IndicatorCache
from domain.targets.signals import target_positions


def _walk(n: int = 300) -> Candles:
    close = 100 * np.cumprod(1 + np.random.default_rng(7).normal(0, 0.01, n)).astype(np.float64)
    open_ = np.concatenate([[100.0], close[:-1]])
    high, low = np.maximum(open_, close) * 1.002, np.minimum(open_, close) * 0.998
    return Candles(
        np.arange(n, dtype=np.int64) * 60_000, open_, high, low, close, *[np.ones(n)] * 2
    )


@pytest.mark.parametrize("entry", list(STRATEGIES), ids=lambda e: e.name)
def test_every_registry_entry_has_targets(entry) -> None:
    candles = _walk()
    params = entry.resolve_params({})
    targets = target_positions(IndicatorCache(candles), entry.name, params, "long_short")
    assert targets.dtype == np.int8 and targets.size == candles.close.size
    assert set(np.unique(targets)) <= {-1, 0, 1}
    assert np.any(targets != 0), "the defaults trade somewhere in 300 bars of a random walk"


def test_the_endpoint_lists_every_entry_as_the_registry_declares_it() -> None:
    listed = STRATEGIES.as_json()
    assert [s["name"] for s in listed] == [e.name for e in BUILTIN_STRATEGIES]
    assert listed[0] == {
        "kind": "builtin",
        "name": "sma_cross",
        "description": BUILTIN_STRATEGIES[0].description,
        "params": [p.as_json() for p in BUILTIN_STRATEGIES[0].params],
        "rules": [{"rule": "fast < slow", "message": "fast must be less than slow"}],
        "available": True,
        "definition": {
            "long_entry": "sma(close, fast) > sma(close, slow)",
            "long_exit": None,
            "short_entry": "sma(close, fast) < sma(close, slow)",
            "short_exit": None,
        },
    }


def test_names_are_unique_and_unknown_ones_name_the_choices() -> None:
    with pytest.raises(ValueError, match="two strategies"):
        StrategyRegistry([BUILTIN_STRATEGIES[0], BUILTIN_STRATEGIES[0]])
    with pytest.raises(ParamError) as raised:
        STRATEGIES.entry("nope", "backtest.strategy.name")
    assert raised.value.field == "backtest.strategy.name"
    assert all(name in raised.value.message for name in STRATEGIES.names())


def _import_engine_with_builtins(change: str) -> subprocess.CompletedProcess[str]:
    script = (
        "import dataclasses, domain.strategies as s\n"
        f"s.BUILTIN_STRATEGIES = {change}\n"
        "import services.engine.core\n"
    )
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )


def test_a_builtin_without_targets_fails_the_engine_import() -> None:
    added = "s.BUILTIN_STRATEGIES + (dataclasses.replace(s.BUILTIN_STRATEGIES[0], name='extra'),)"
    run = _import_engine_with_builtins(added)
    assert run.returncode != 0
    assert "built-in strategies without targets: extra" in run.stderr


def test_targets_for_a_name_the_registry_lacks_fail_the_engine_import() -> None:
    run = _import_engine_with_builtins("s.BUILTIN_STRATEGIES[1:]")
    assert run.returncode != 0
    assert "'sma_cross' is not a built-in strategy of the registry" in run.stderr


def test_the_api_validates_strategies_without_importing_the_engine() -> None:
    script = (
        "import sys, services.api.app, shared.backtest_spec, shared.optimization_spec\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] == 'numba' "
        "or m.startswith('services.engine')]\n"
        "print(','.join(loaded))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert run.stdout.strip() == ""
