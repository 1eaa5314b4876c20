"""A Bayesian search's space as the API checks it: each entry to a dimension, or a ParamError
naming the field; and the probe for a point that keeps the strategy's rules."""

import pytest

from domain.strategies import ParamError
from domain.strategies.registry import strategy_entry
from shared.backtest_spec import EXECUTION_GRID_FIELDS
from shared.param_space import Dimension, SpaceRange, check_space, first_valid_point

SMA_CROSS = strategy_entry("sma_cross")


def _check(space: dict[str, object], spot: bool = False) -> list[Dimension]:
    entries = {
        name: SpaceRange.model_validate(given) if isinstance(given, dict) else given
        for name, given in space.items()
    }
    return check_space(entries, SMA_CROSS, EXECUTION_GRID_FIELDS, spot)  # type: ignore[arg-type]


def test_entries_become_dimensions_in_the_order_given() -> None:
    dimensions = _check(
        {
            "slow": [50, 100.0],
            "fast": {"low": 2, "high": 40, "step": 2},
            "trailing_stop": {"low": 0.01, "high": 0.2, "log": True},
            "stop_loss": [None, 0.05],
        }
    )
    assert [d.name for d in dimensions] == ["slow", "fast", "trailing_stop", "stop_loss"]
    assert dimensions[0] == Dimension("slow", "categorical", choices=(50, 100))
    assert dimensions[1] == Dimension("fast", "int", 2, 40, 2)
    assert dimensions[2] == Dimension("trailing_stop", "float", 0.01, 0.2, None, True)
    assert dimensions[3].choices == (None, 0.05)


@pytest.mark.parametrize(
    ("space", "field"),
    [
        ({"fast": {"low": 9, "high": 3}}, "param_space.fast.high"),
        ({"fast": {"low": 2, "high": 9, "step": 0}}, "param_space.fast.step"),
        ({"fast": {"low": 2.5, "high": 9}}, "param_space.fast.low"),
        ({"fast": {"low": 0, "high": 9}}, "param_space.fast.low"),  # below the period's bound
        ({"fast": {"low": 2, "high": 9, "log": True, "step": 2}}, "param_space.fast.step"),
        (
            {"trailing_stop": {"low": 0.0, "high": 0.2, "log": True}},
            "param_space.trailing_stop.low",
        ),
        (
            {"trailing_stop": {"low": 0.01, "high": 0.2, "log": True, "step": 0.01}},
            "param_space.trailing_stop.step",
        ),
        ({"position_size": {"low": 0.5, "high": 2}}, "param_space.position_size.high"),
        ({"stop_loss": [{"atr": 2}]}, "param_space.stop_loss.0"),
        ({"fast": []}, "param_space.fast"),
        ({"speed": [1]}, "param_space.speed"),
    ],
)
def test_a_bad_entry_names_its_field(space: dict[str, object], field: str) -> None:
    with pytest.raises(ParamError) as raised:
        _check(space)
    assert raised.value.field == field


def test_spot_samples_no_leverage_but_one() -> None:
    assert _check({"leverage": [1]}, spot=True)[0].choices == (1.0,)
    with pytest.raises(ParamError, match="spot allows leverage 1 only"):
        _check({"leverage": {"low": 1, "high": 3}}, spot=True)


def test_a_point_that_keeps_the_rules_is_found_where_there_is_one() -> None:
    base = {"fast": 10, "slow": 30}
    narrow = _check({"fast": {"low": 20, "high": 60}, "slow": {"low": 40, "high": 45}})
    point = first_valid_point(narrow, base, SMA_CROSS)
    assert point is not None and point["fast"] < point["slow"]
    none = _check({"fast": {"low": 50, "high": 90}, "slow": [20, 40]})
    assert first_valid_point(none, base, SMA_CROSS) is None
