"""A backtest request names a built-in, a plugin or an inline expression definition; each is
checked at the field a client wrote and runs through the same core."""

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from backtesting.test import GOOG
from pydantic import ValidationError

from domain.backtest import run_backtest
from domain.market.candles import Candles
from domain.strategies import BUILTIN_STRATEGIES, STRATEGIES, strategies_with_plugins
from domain.targets.plugin_targets import StrategyError
from shared.backtest_spec import BacktestSpec

ROOT = Path(__file__).resolve().parents[2]
WITH_PLUGINS = strategies_with_plugins(
    f"{ROOT / 'tests' / 'plugins'}:{ROOT / 'examples' / 'strategies'}"
)
_o, _h, _l, _c, _v = (
    GOOG[k].to_numpy(np.float64) for k in ("Open", "High", "Low", "Close", "Volume")
)
CANDLES = Candles(np.arange(_c.size, dtype=np.int64) * 86_400_000, _o, _h, _l, _c, _v, _v * _c)
BASE = {
    "category": "spot",
    "symbol": "GOOG",
    "interval": "D",
    "start": "2004-01-01T00:00:00Z",
    "end": "2014-01-01T00:00:00Z",
    "direction": "long_short",
}
SMA_CROSS = dict(BUILTIN_STRATEGIES[0].position_rules)
SMA_PARAMS = {
    "fast": {"type": "int", "default": 10, "minimum": 1, "maximum": 500},
    "slow": {"type": "int", "default": 30, "minimum": 2, "maximum": 2000},
}


def spec(strategy: dict[str, Any], strategies: Any = None) -> BacktestSpec:
    context = None if strategies is None else {"strategies": strategies}
    return BacktestSpec.model_validate({**BASE, "strategy": strategy}, context=context)


def error_of(strategy: dict[str, Any], strategies: Any = None) -> tuple[tuple[Any, ...], str]:
    with pytest.raises(ValidationError) as caught:
        spec(strategy, strategies)
    first = caught.value.errors()[0]
    return first["loc"], first["msg"]


def test_an_inline_definition_runs_like_the_builtin_it_spells_out():
    inline = spec(
        {
            "definition": {"params": SMA_PARAMS, "rules": ["fast < slow"], **SMA_CROSS},
            "params": {"fast": 7},
        }
    )
    builtin = spec({"name": "sma_cross", "params": {"fast": 7}})
    assert inline.strategy.params == {"fast": 7, "slow": 30}
    stored = inline.model_dump(mode="json")["strategy"]["definition"]
    assert stored["long_exit"] is None and stored["params"]["fast"]["default"] == 10
    ours, theirs = run_backtest(CANDLES, inline), run_backtest(CANDLES, builtin)
    assert ours.metrics == theirs.metrics and ours.metrics["num_trades"]
    np.testing.assert_array_equal(ours.equity, theirs.equity)
    # The stored request validates again to the same strategy (what the engine does).
    again = BacktestSpec.model_validate(inline.model_dump(mode="json"))
    assert again.strategy == inline.strategy


AT_LONG_ENTRY = ("strategy", "definition", "long_entry")


@pytest.mark.parametrize(
    ("definition", "loc", "says"),
    [
        (
            {"long_entry": "close > nope"},
            ("strategy", "definition", "long_entry"),
            "unknown name 'nope'",
        ),
        (
            {"long_entry": "close >"},
            ("strategy", "definition", "long_entry"),
            "syntax error at column",
        ),
        ({"short_exit": "close > 1"}, ("strategy", "definition", "long_entry"), "at least one of"),
        (
            {"long_entry": "sma(close, 2.5) > 1"},
            ("strategy", "definition", "long_entry"),
            "constant integer",
        ),
    ],
)
def test_bad_definitions_are_refused_at_their_field(
    definition: dict[str, Any], loc: tuple[Any, ...], says: str
):
    got_loc, message = error_of({"definition": definition})
    assert got_loc == loc
    assert says in message


def test_definition_params_are_checked_like_a_builtin_s():
    definition = {"params": SMA_PARAMS, "rules": ["fast < slow"], **SMA_CROSS}
    assert error_of({"definition": definition, "params": {"fast": 0}})[0] == (
        "strategy",
        "params",
        "fast",
    )
    loc, message = error_of({"definition": definition, "params": {"fast": 40}})
    assert loc == ("strategy", "params", "fast") and "fast < slow" in message


def test_a_plugin_is_known_only_where_it_is_loaded_and_is_recorded_with_its_file_hash():
    assert "unknown strategy" in error_of({"name": "honest_momentum"})[1]
    resolved = spec({"name": "honest_momentum"}, WITH_PLUGINS)
    entry = WITH_PLUGINS.entry("honest_momentum")
    assert entry.plugin is not None
    assert resolved.strategy.sha256 == entry.plugin.sha256
    assert resolved.strategy.params == {"period": 5}
    loc, message = error_of({"name": "honest_momentum", "sha256": "0" * 64}, WITH_PLUGINS)
    assert loc == ("strategy", "sha256") and "deploy the same file" in message
    loc, message = error_of({"name": "fails_to_import"}, WITH_PLUGINS)
    assert loc == ("strategy", "name") and "unavailable: import failed" in message


def test_every_plugin_backtest_is_guarded_against_look_ahead():
    honest = run_backtest(CANDLES, spec({"name": "honest_momentum"}, WITH_PLUGINS))
    assert honest.metrics["num_trades"]
    with pytest.raises(StrategyError, match=r"^look-ahead: the target at bar"):
        run_backtest(CANDLES, spec({"name": "peeks_ahead"}, WITH_PLUGINS))


def test_the_builtins_registry_is_left_alone():
    assert "honest_momentum" not in STRATEGIES.names()
    assert {e.kind for e in WITH_PLUGINS} == {"builtin", "plugin"}


def test_auto_warm_up_for_every_kind():
    donchian = spec(
        {
            "definition": {
                "params": {"n": {"type": "int", "default": 20, "minimum": 1, "maximum": 500}},
                "long_entry": "close > highest(shift(high, 30), n)",
            }
        }
    )
    assert donchian.warmup_bars_asked == 3 * 30  # the shift is the longest window here
    breakout = spec({"name": "vol_breakout", "params": {"period": 25}}, WITH_PLUGINS)
    assert breakout.warmup_bars_asked == 75  # its WARMUP_BARS(params) = 3 * period
    honest = spec({"name": "honest_momentum"}, WITH_PLUGINS)
    assert honest.warmup_bars_asked == 50  # WARMUP_BARS = 50
    assert spec({"name": "raises"}, WITH_PLUGINS).warmup_bars_asked == 0  # none declared
