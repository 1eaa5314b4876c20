"""Strategies' target positions against a plain per-bar state machine on real data."""

import math

import numpy as np
import pytest
from backtesting.test import EURUSD, GOOG
from domain.execution.settings import Direction

from domain import indicators
from domain.market.candles import Candles
from domain.targets.indicator_cache import IndicatorCache
from domain.targets.signals import target_positions

DIRECTIONS: list[Direction] = ["long_only", "short_only", "long_short"]


def _candles(frame) -> Candles:
    n = len(frame)
    cols = [frame[c].to_numpy(np.float64) for c in ("Open", "High", "Low", "Close", "Volume")]
    o, h, lo, c, v = cols
    return Candles(np.arange(n, dtype=np.int64), o, h, lo, c, v, np.zeros(n))


DATA = {"EURUSD": _candles(EURUSD.iloc[:2000]), "GOOG": _candles(GOOG)}


def reference_targets(enter_long, exit_long, enter_short, exit_short, direction) -> list[int]:
    """Enter/exit rules as a bar-by-bar state machine; an exit may be followed by the
    opposite entry on the same bar."""
    allow_long = direction != "short_only"
    allow_short = direction != "long_only"
    state = 0
    out = []
    for el, xl, es, xs in zip(enter_long, exit_long, enter_short, exit_short, strict=True):
        if (state == 1 and xl) or (state == -1 and xs):
            state = 0
        if state == 0:
            if allow_long and el:
                state = 1
            elif allow_short and es:
                state = -1
        out.append(state)
    return out


def above_below(fast, slow, direction) -> list[int]:
    out = []
    for f, s in zip(fast, slow, strict=True):
        t = 0 if math.isnan(f) or math.isnan(s) else int(f > s) - int(f < s)
        out.append(
            max(t, 0) if direction == "long_only" else min(t, 0) if direction == "short_only" else t
        )
    return out


@pytest.mark.parametrize("data", DATA)
@pytest.mark.parametrize("direction", DIRECTIONS)
def test_crosses(data: str, direction: Direction) -> None:
    candles = DATA[data]
    cache = IndicatorCache(candles)
    got = target_positions(cache, "sma_cross", {"fast": 7, "slow": 21}, direction)
    fast, slow = indicators.sma(candles.close, 7), indicators.sma(candles.close, 21)
    assert list(got) == above_below(fast, slow, direction)
    assert (got[:20] == 0).all()

    got = target_positions(cache, "ema_cross", {"fast": 12, "slow": 26}, direction)
    fast, slow = indicators.ema(candles.close, 12), indicators.ema(candles.close, 26)
    assert list(got) == above_below(fast, slow, direction)

    got = target_positions(cache, "macd", {"fast": 12, "slow": 26, "signal": 9}, direction)
    line, signal = indicators.macd(candles.close, 12, 26, 9)
    assert list(got) == above_below(line, signal, direction)
    assert got.dtype == np.int8


@pytest.mark.parametrize("data", DATA)
@pytest.mark.parametrize("direction", DIRECTIONS)
def test_rsi_reversion(data: str, direction: Direction) -> None:
    candles = DATA[data]
    params = {"period": 14, "lower": 35.0, "upper": 65.0}
    got = target_positions(IndicatorCache(candles), "rsi_reversion", params, direction)
    rsi = indicators.rsi(candles.close, 14)
    low, high = rsi < 35, rsi > 65
    assert list(got) == reference_targets(low, high, high, low, direction)
    assert set(got) == ({0, 1, -1} if direction == "long_short" else set(got))


@pytest.mark.parametrize("data", DATA)
@pytest.mark.parametrize("direction", DIRECTIONS)
def test_bollinger_reversion(data: str, direction: Direction) -> None:
    candles = DATA[data]
    got = target_positions(
        IndicatorCache(candles), "bollinger_reversion", {"period": 20, "k": 1.5}, direction
    )
    lower, middle, upper = indicators.bollinger(candles.close, 20, 1.5)
    c = candles.close
    expected = reference_targets(c < lower, c > middle, c > upper, c < middle, direction)
    assert list(got) == expected
    assert 0 in got


@pytest.mark.parametrize("data", DATA)
@pytest.mark.parametrize("direction", DIRECTIONS)
def test_donchian_breakout(data: str, direction: Direction) -> None:
    candles = DATA[data]
    got = target_positions(IndicatorCache(candles), "donchian_breakout", {"period": 20}, direction)
    highest, lowest = indicators.donchian(candles.high, candles.low, 20)
    c = candles.close
    expected = reference_targets(c > highest, c < lowest, c < lowest, c > highest, direction)
    assert list(got) == expected
    assert (got[:20] == 0).all()


def test_hand_made_rsi_sequence() -> None:
    # Falls (RSI 0, below 30) then rises (RSI climbs past 70): long, then out.
    close = np.array([10, 9, 8, 7, 6, 5, 6, 7, 8, 9, 10, 11], np.float64)
    n = close.size
    candles = Candles(np.arange(n, dtype=np.int64), close, close, close, close, close, close)
    got = target_positions(
        IndicatorCache(candles),
        "rsi_reversion",
        {"period": 3, "lower": 30, "upper": 70},
        "long_only",
    )
    assert list(got) == [0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0]


def test_unknown_strategy() -> None:
    with pytest.raises(ValueError, match="unknown strategy"):
        target_positions(IndicatorCache(DATA["GOOG"]), "nope", {}, "long_only")


def test_cache_reuses_indicators() -> None:
    cache = IndicatorCache(DATA["GOOG"])
    assert cache.sma(10) is cache.sma(10)
    assert cache.bollinger(20, 2.0)[1] is cache.sma(20)
    assert cache.macd(12, 26, 9)[1] is cache.macd(12, 26, 9)[1]
    assert cache.donchian(5) is cache.donchian(5)
