"""The strategy registry's parameter checks and the backtest request: defaults, bounds, fields."""

import json
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from domain.backtest import run_backtest
from domain.market.candles import Candles
from domain.strategies import STRATEGIES, ParamError, broken_rule, resolve_params
from shared.backtest_spec import BacktestSpec

REQUEST = {
    "category": "linear",
    "symbol": "BTCUSDT",
    "interval": "60",
    "start": "2024-01-01T00:00:00Z",
    "end": "2024-06-30T23:00:00Z",
    "strategy": {"name": "sma_cross", "params": {"fast": 10, "slow": 30}},
}


def test_defaults_are_filled_in() -> None:
    assert resolve_params("macd", {}) == {"fast": 12, "slow": 26, "signal": 9}
    assert resolve_params("rsi_reversion", {"lower": 25}) == {
        "period": 14,
        "lower": 25.0,
        "upper": 70.0,
    }
    assert resolve_params("bollinger_reversion", None) == {"period": 20, "k": 2.0}
    assert resolve_params("donchian_breakout", {"period": 55.0}) == {"period": 55}
    assert isinstance(resolve_params("donchian_breakout", {"period": 55.0})["period"], int)


@pytest.mark.parametrize(
    ("name", "params", "field"),
    [
        ("nope", {}, "strategy.name"),
        ("sma_cross", {"fats": 3}, "strategy.params.fats"),
        ("sma_cross", {"fast": True}, "strategy.params.fast"),
        ("sma_cross", {"fast": "10"}, "strategy.params.fast"),
        ("sma_cross", {"fast": 2.5}, "strategy.params.fast"),
        ("sma_cross", {"fast": 0}, "strategy.params.fast"),
        ("sma_cross", {"slow": 10_001}, "strategy.params.slow"),
        ("sma_cross", {"fast": 30, "slow": 30}, "strategy.params.fast"),
        ("sma_cross", {"slow": 5}, "strategy.params.slow"),
        ("macd", {"fast": 40}, "strategy.params.fast"),
        ("rsi_reversion", {"lower": 80}, "strategy.params.lower"),
        ("rsi_reversion", {"upper": 100.5}, "strategy.params.upper"),
        ("rsi_reversion", {"lower": float("nan")}, "strategy.params.lower"),
        ("bollinger_reversion", {"k": 0}, "strategy.params.k"),
        ("bollinger_reversion", {"k": 10.5}, "strategy.params.k"),
        ("donchian_breakout", {"period": None}, "strategy.params.period"),
    ],
)
def test_param_errors_name_the_field(name: str, params: dict[str, Any], field: str) -> None:
    with pytest.raises(ParamError) as raised:
        resolve_params(name, params)
    assert raised.value.field == field
    assert isinstance(raised.value, ValueError)


def test_rules_are_checkable_for_optimizers() -> None:
    assert broken_rule("sma_cross", {"fast": 10, "slow": 5}) is not None
    assert broken_rule("sma_cross", {"fast": 5, "slow": 10}) is None
    assert broken_rule("donchian_breakout", {"period": 5}) is None
    assert resolve_params("bollinger_reversion", {"k": 10}) == {"period": 20, "k": 10.0}


def test_catalog_is_json() -> None:
    catalog = json.loads(json.dumps(STRATEGIES.as_json()))
    assert [s["name"] for s in catalog] == STRATEGIES.names()
    assert {s["kind"] for s in catalog} == {"builtin"}
    sma = catalog[0]
    assert sma["params"][0] | {"description": ""} == {
        "name": "fast",
        "type": "int",
        "default": 10,
        "minimum": 1,
        "maximum": 10_000,
        "minimum_exclusive": False,
        "description": "",
    }
    assert sma["rules"] == [{"rule": "fast < slow", "message": "fast must be less than slow"}]


def test_request_defaults_and_normalised_times() -> None:
    spec = BacktestSpec.model_validate(REQUEST | {"end": 1_719_788_400_000})
    dumped = spec.model_dump(mode="json")
    assert dumped["end"] == "2024-06-30T23:00:00Z"
    assert spec.start == datetime(2024, 1, 1, tzinfo=UTC)
    assert dumped["strategy"] == {"name": "sma_cross", "params": {"fast": 10, "slow": 30}}
    assert dumped | {"strategy": None, "start": None, "end": None} == {
        "category": "linear",
        "symbol": "BTCUSDT",
        "interval": "60",
        "start": None,
        "end": None,
        "strategy": None,
        "initial_capital": 10_000.0,
        "fee_rate": 0.00055,
        "slippage_bps": 0.0,
        "direction": "long_only",
        "fill": "next_open",
        "position_size": 1.0,
        "stop_loss": None,
        "take_profit": None,
        "trailing_stop": None,
        "atr_period": 14,
        "warmup_bars": "auto",
        "leverage": 1.0,
        "funding": True,
        "maintenance_margin_rate": 0.005,
        "monte_carlo": None,
    }
    assert BacktestSpec.model_validate(dumped) == spec
    naive = BacktestSpec.model_validate(REQUEST | {"start": "2024-01-01T02:00:00+02:00"})
    assert naive.start == spec.start
    assert spec.end_ms == 1_719_788_400_000


def test_saved_strategy_by_id() -> None:
    spec = BacktestSpec.model_validate(
        REQUEST | {"strategy": {"id": "6f1c1b7e-6a7e-4c3e-9a4f-1d2e3f4a5b6c"}}
    )
    assert spec.model_dump(mode="json")["strategy"] == {
        "id": "6f1c1b7e-6a7e-4c3e-9a4f-1d2e3f4a5b6c"
    }
    with pytest.raises(ValueError, match="resolve"):
        spec.config()


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        (
            {"strategy": {"name": "sma_cross", "params": {"fast": 50}}},
            ("strategy", "params", "fast"),
        ),
        ({"strategy": {"name": "sma_cross", "params": {"x": 1}}}, ("strategy", "params", "x")),
        ({"strategy": {"name": "bogus"}}, ("strategy", "name")),
        ({"strategy": {}}, ("strategy",)),
        (
            {"strategy": {"name": "macd", "id": "6f1c1b7e-6a7e-4c3e-9a4f-1d2e3f4a5b6c"}},
            ("strategy",),
        ),
        ({"initial_capital": 0}, ("initial_capital",)),
        ({"initial_capital": float("inf")}, ("initial_capital",)),
        ({"initial_capital": "100"}, ("initial_capital",)),
        ({"fee_rate": -0.001}, ("fee_rate",)),
        ({"fee_rate": 0.11}, ("fee_rate",)),
        ({"fee_rate": float("nan")}, ("fee_rate",)),
        ({"slippage_bps": 1001}, ("slippage_bps",)),
        ({"position_size": 0}, ("position_size",)),
        ({"position_size": 1.5}, ("position_size",)),
        ({"stop_loss": 1.0}, ("stop_loss",)),
        ({"take_profit": 0}, ("take_profit",)),
        ({"trailing_stop": {"atr": 0}}, ("trailing_stop", "atr")),
        ({"trailing_stop": {"atr": 2, "k": 1}}, ("trailing_stop", "k")),
        ({"stop_loss": "0.02"}, ("stop_loss",)),
        ({"atr_period": 0}, ("atr_period",)),
        ({"direction": "sideways"}, ("direction",)),
        ({"fill": "open"}, ("fill",)),
        ({"interval": "7"}, ("interval",)),
        ({"category": "futures"}, ("category",)),
        ({"start": "2024-07-01T00:00:00Z"}, ("start",)),
        ({"start": "yesterday"}, ("start",)),
        ({"colour": "red"}, ("colour",)),
    ],
)
def test_request_errors_name_the_field(change: dict[str, Any], loc: tuple[str, ...]) -> None:
    with pytest.raises(ValidationError) as raised:
        BacktestSpec.model_validate(REQUEST | change)
    assert [e["loc"] for e in raised.value.errors()] == [loc]


def test_nan_in_json_is_rejected() -> None:
    body = json.dumps(REQUEST)[:-1] + ', "fee_rate": NaN}'
    with pytest.raises(ValidationError) as raised:
        BacktestSpec.model_validate_json(body)
    assert raised.value.errors()[0]["loc"] == ("fee_rate",)


def test_a_spec_runs() -> None:
    n = 50
    prices = [100.0 + (i % 7) - (i % 3) for i in range(n)]
    column = np.array(prices)
    candles = Candles(np.arange(n, dtype=np.int64) * 3_600_000, *(column,) * 6)
    spec = BacktestSpec.model_validate(
        REQUEST | {"strategy": {"name": "sma_cross", "params": {"fast": 2, "slow": 5}}}
    )
    result = run_backtest(candles, spec)
    assert result.equity.shape == (n,)
    assert result.metrics["num_trades"] == len(result.trades) > 0
