"""`param_grid` ranges: `{"start", "stop", "step"}` expands to the values a list would give."""

from typing import Any

import pytest
from pydantic import ValidationError

from shared.optimization_spec import OptimizationSpec

BACKTEST = {
    "category": "linear",
    "symbol": "BTCUSDT",
    "interval": "60",
    "start": "2024-01-01T00:00:00Z",
    "end": "2024-02-01T00:00:00Z",
    "strategy": {"name": "bollinger_reversion"},
}


def spec(grid: dict[str, Any]) -> OptimizationSpec:
    return OptimizationSpec.model_validate(
        {"kind": "grid", "backtest": BACKTEST, "param_grid": grid}
    )


def test_a_range_includes_stop_when_a_step_lands_on_it() -> None:
    grid = spec({"period": {"start": 10, "stop": 30, "step": 10}, "k": [2.0]}).grid
    assert grid["period"] == [10, 20, 30]
    assert all(type(v) is int for v in grid["period"])
    assert spec({"period": {"start": 10, "stop": 35, "step": 10}}).grid["period"] == [
        10,
        20,
        30,
    ]


def test_a_float_range_does_not_lose_its_last_step_to_rounding() -> None:
    grid = spec({"k": {"start": 1.5, "stop": 2.5, "step": 0.1}}).grid
    assert grid["k"] == [1.5, 1.6, 1.7, 1.8, 1.9, 2.0, 2.1, 2.2, 2.3, 2.4, 2.5]


def test_the_stored_request_holds_the_values() -> None:
    dumped = spec({"period": {"start": 5, "stop": 7, "step": 1}}).model_dump(mode="json")
    assert dumped["param_grid"] == {"period": [5, 6, 7]}
    assert OptimizationSpec.model_validate(dumped).combinations()[0][0]["period"] == 5


@pytest.mark.parametrize(
    "bad",
    [
        {"start": 10, "stop": 30, "step": 0},
        {"start": 10, "stop": 30, "step": -5},
        {"start": 30, "stop": 10, "step": 5},
        {"start": 10.5, "stop": 30, "step": 5},
        {"start": 10, "stop": 30, "step": 2.5},
        {"start": 1, "stop": 10_000_000, "step": 1},
    ],
)
def test_a_bad_range_names_the_parameter(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as caught:
        spec({"period": bad})
    (error,) = caught.value.errors()
    assert error["loc"] == ("param_grid", "period"), error
