"""The report's human formats (as the UI's) and its digest of the full equity curve, checked
against slow obvious computations."""

import datetime as dt
import math
from typing import Any

import numpy as np
import pytest

from services.api.report import EquityDigest
from services.api.report_format import human, job_title, request_rows, setup_words


@pytest.mark.parametrize(
    ("key", "value", "shown"),
    [
        ("total_return", -0.96634, "\u221296.6 %"),
        ("total_return", 0.0123, "1.23 %"),
        ("max_drawdown", 0.00012, "0.012 %"),
        ("win_rate", 0.5, "50.0 %"),
        ("cagr", 17.06, "1,706 %"),
        ("total_return", -0.0000001, "0.000 %"),  # no "-0"
        ("final_equity", 12345.678, "12,345.68"),
        ("pnl", -1234.5, "\u22121,234.50"),
        ("sharpe", 1.23456, "1.23"),
        ("sharpe", -0.74599, "\u22120.746"),
        ("num_trades", 1234, "1,234"),
        ("entry_price", 43123.456789, "43,123.46"),
        ("stop_loss", {"atr": 2}, "2.00 \u00d7 ATR"),
        ("stop_loss", None, "—"),
        ("sharpe", math.nan, "—"),
        ("funding", True, "yes"),
        ("param_grid", {"fast": [5, 10]}, "fast [5, 10]"),
    ],
)
def test_values_read_as_people_read_them(key: str, value: object, shown: str) -> None:
    assert human(key, value) == shown


def test_a_job_is_named_by_its_strategy_symbols_interval_and_setup() -> None:
    request = {
        "symbol": "BTCUSDT",
        "interval": "60",
        "strategy": {"definition": {"long_entry": "close > 1"}, "params": {}},
        "leverage": 10.0,
        "direction": "long_short",
        "stop_loss": 0.02,
        "position_size": 0.5,
    }
    assert job_title(None, request) == "expression · BTCUSDT · 1h"
    assert job_title("donchian_rsi", request) == "donchian_rsi · BTCUSDT · 1h"
    words = setup_words(request)
    assert words == "10\u00d7 · long & short · SL 2.00 % · size 50.0 %"
    rows = dict(request_rows(request, ["symbol", "strategy", "leverage"]))
    assert rows["strategy"] == "expression" and rows["long entry"] == "close > 1"
    assert list(rows)[:2] == ["symbol", "strategy"]
    assert rows["parameters"] == "—" and rows["leverage"] == "10.00"


def test_the_digest_gives_the_drawdown_and_month_ends_of_every_point_slice_by_slice() -> None:
    rng = np.random.default_rng(4)
    start = int(dt.datetime(2024, 1, 30, tzinfo=dt.UTC).timestamp() * 1000)
    times = start + 3_600_000 * np.arange(2000, dtype=np.int64)
    values = 10_000 * np.exp(np.cumsum(rng.normal(0, 0.01, 2000)))
    digest = EquityDigest()
    drawdowns = np.concatenate(
        [digest.feed(times[i : i + 300], values[i : i + 300]) for i in range(0, 2000, 300)]
    )
    peak = -math.inf
    for value, drawdown in zip(values.tolist(), drawdowns.tolist(), strict=True):
        peak = max(peak, value)
        assert drawdown == pytest.approx(value / peak - 1, abs=1e-15)
    month_end: dict[str, float] = {}
    for t, value in zip(times.tolist(), values.tolist(), strict=True):
        month_end[dt.datetime.fromtimestamp(t / 1000, dt.UTC).strftime("%Y-%m")] = value
    expected, before = [], 9_000.0
    for month, value in month_end.items():
        expected.append((month, value / before - 1))
        before = value
    got = digest.monthly_returns(9_000.0)
    assert (
        [m for m, _ in got]
        == [m for m, _ in expected]
        == ["2024-01", "2024-02", "2024-03", "2024-04"]
    )
    assert [r for _, r in got] == pytest.approx([r for _, r in expected], rel=1e-12)


def test_a_plugins_own_indicators_are_drawn_on_the_pane_their_values_fit() -> None:
    from pathlib import Path

    from domain.strategies.plugins import Plugin
    from services.api.indicator_series import plugin_indicators
    from tests.support.market import T0, random_walk

    candles = random_walk(T0, 50, "60")

    def indicators(frame: Any, params: dict[str, Any]) -> dict[str, Any]:
        close = frame["close"]
        return {"mid": close.rolling_mean(params["n"]), "spread": frame["high"] - frame["low"]}

    plugin = Plugin("p", Path("p.py"), "0" * 64, indicators=indicators)
    lines = {line.name: line for line in plugin_indicators(plugin, candles, {"n": 3})}
    assert lines["mid"].pane == "price" and lines["spread"].pane == "lower"
    expected = [sum(candles.close[i - 2 : i + 1]) / 3 for i in range(2, 50)]
    assert lines["mid"].values[2:].tolist() == pytest.approx(expected, rel=1e-12)
    assert np.isnan(lines["mid"].values[:2]).all()
