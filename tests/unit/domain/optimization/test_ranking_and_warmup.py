"""The ranking rule (Python and SQL from the same pieces) and the warm-up of built-ins."""

from typing import Any

import pytest

from domain.optimization.ranking import best_of, order_sql, ranking_key
from domain.strategies import strategy_entry
from domain.strategies.warmup import MAX_AUTO_WARMUP_BARS, auto_warmup_bars, warmup_bars


def test_higher_is_better_but_drawdown_nulls_last_ties_to_the_earlier() -> None:
    rows: list[tuple[dict[str, Any], int]] = [
        ({"sharpe": None, "max_drawdown": None}, 0),
        ({"sharpe": 1.0, "max_drawdown": 0.2}, 1),
        ({"sharpe": 2.0, "max_drawdown": 0.2}, 2),
        ({"sharpe": 2.0, "max_drawdown": 0.1}, 3),
    ]
    by_sharpe = sorted(rows, key=lambda r: ranking_key(r[0], "sharpe", r[1]))
    assert [p for _, p in by_sharpe] == [2, 3, 1, 0]
    by_drawdown = sorted(rows, key=lambda r: ranking_key(r[0], "max_drawdown", r[1]))
    assert [p for _, p in by_drawdown] == [3, 1, 2, 0]
    assert best_of(reversed(rows), "sharpe", lambda r: r[0], lambda r: r[1])[1] == 2
    assert best_of(rows[:1], "sharpe", lambda r: r[0], lambda r: r[1])[1] == 0


def test_the_sql_order_follows_the_same_direction() -> None:
    assert order_sql("m", "sharpe", "pos") == "(m->>'sharpe')::float8 DESC NULLS LAST, pos"
    assert order_sql("m", "max_drawdown", "pos").endswith("ASC NULLS LAST, pos")
    with pytest.raises(ValueError):
        order_sql("m", "sharpe'; DROP TABLE x; --", "pos")


def test_auto_warm_up_is_three_longest_windows_capped() -> None:
    assert auto_warmup_bars(strategy_entry("sma_cross"), {"fast": 10, "slow": 30}) == 90
    assert auto_warmup_bars(strategy_entry("macd"), {"fast": 12, "slow": 26, "signal": 9}) == 78
    assert auto_warmup_bars(strategy_entry("bollinger_reversion"), {"period": 20, "k": 2.0}) == 60
    assert (
        auto_warmup_bars(strategy_entry("sma_cross"), {"fast": 10, "slow": 9000})
        == MAX_AUTO_WARMUP_BARS
    )
    assert warmup_bars(7, strategy_entry("sma_cross"), {"fast": 10, "slow": 30}) == 7
    assert (
        warmup_bars(
            "auto", strategy_entry("rsi_reversion"), {"period": 14, "lower": 30, "upper": 70}
        )
        == 42
    )
