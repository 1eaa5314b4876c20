"""A plugin's `candles` frame carries a perpetual's mark price and funding rate as rules see
them, and only for perpetuals."""

from pathlib import Path

import numpy as np
import polars as pl

from domain.market.candles import Candles
from domain.market.perp_market import perp_market
from domain.strategies.plugins import load_plugins
from domain.targets.plugin_targets import candles_frame
from domain.targets.strategy_targets import StrategyTargets

N = 200
HOUR = 3_600_000
TIMES = 1_704_067_200_000 + np.arange(N, dtype=np.int64) * HOUR
_rng = np.random.default_rng(3)
_close = 100 + np.cumsum(_rng.normal(0, 1, N))
CANDLES = Candles(TIMES, _close, _close + 1, _close - 1, _close, np.ones(N), _close)
FUNDING_TIMES = TIMES[::8]
RATES = np.where(np.arange(FUNDING_TIMES.size) % 3 == 0, -1e-4, 1e-4)
_seven = np.full(100, 7.0)
MARK = Candles(TIMES[:100], _seven, _seven, _seven, _seven, np.ones(100), np.ones(100))
MARKET = perp_market(CANDLES, "60", MARK, FUNDING_TIMES, RATES)

CARRY = """
import numpy as np

PARAMS = {}


def targets(candles, params):
    rate = candles["funding_rate"].fill_null(0.0).to_numpy()
    return np.where(rate < 0, 1, 0)
"""


def test_the_frame_adds_mark_and_funding_for_perpetuals_only() -> None:
    spot = candles_frame(CANDLES)
    assert spot.columns == ["open_time", "open", "high", "low", "close", "volume", "turnover"]
    perp = candles_frame(CANDLES, MARKET)
    assert perp.columns[7:] == ["mark_open", "mark_high", "mark_low", "mark_close", "funding_rate"]
    assert perp["mark_close"].to_list() == [7.0] * 100 + list(_close[100:])
    assert perp.schema["funding_rate"] == pl.Float64
    # Each bar's rate is that of the latest funding at or before its end: bar 00:00 (ending
    # 01:00) sees the funding of 00:00.
    assert perp["funding_rate"][0] == RATES[0]
    assert perp["funding_rate"][8] == RATES[1]
    assert perp["funding_rate"][7] == RATES[1]  # bar 07:00 ends at 08:00, the funding time


def test_a_plugin_trades_on_the_funding_rate(tmp_path: Path) -> None:
    (tmp_path / "carry.py").write_text(CARRY)
    entry = load_plugins(str(tmp_path))["carry"].entry()
    strategy = StrategyTargets(entry, CANDLES, interval="60", market=MARKET)
    got = strategy({}, "long_only")
    expected = (MARKET.funding_in_force < 0).astype(np.int8)
    assert (got == expected).all() and got.any()
    strategy.guard({})  # honest: passes the look-ahead guard with its market cut too
