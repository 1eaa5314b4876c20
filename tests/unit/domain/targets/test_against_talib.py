"""Every function of the language that TA-Lib has equals TA-Lib's (the pinned `TA-Lib`
wheel) to 1e-9 relative from TA-Lib's first value on, and is missing before it, on the GOOG
and EURUSD samples of the `backtesting` package; so do the built-ins' MACD and Bollinger."""

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import talib
from backtesting.test import EURUSD, GOOG
from talib._ta_lib import MA_Type

from domain.market.candles import Candles
from domain.strategies.expressions import Comparison, Scope, parse_rule
from domain.targets.expression_rules import RuleEvaluator
from domain.targets.indicator_cache import IndicatorCache

RTOL = 1e-9
SMA = MA_Type.SMA


def _candles(frame: Any) -> Candles:
    n = len(frame)
    o, h, lo, c, v = (
        frame[k].to_numpy(np.float64) for k in ("Open", "High", "Low", "Close", "Volume")
    )
    return Candles(np.arange(n, dtype=np.int64) * 3_600_000, o, h, lo, c, v, np.zeros(n))


DATA = {"GOOG": _candles(GOOG), "EURUSD": _candles(EURUSD)}


def language(candles: Candles, expression: str) -> np.ndarray:
    node = parse_rule(f"{expression} > 0", "long_entry", Scope({}))
    assert isinstance(node, Comparison)
    return np.asarray(RuleEvaluator(candles, "60").number(node.left), np.float64)


def same_as_talib(ours: np.ndarray, theirs: np.ndarray) -> None:
    first = int(np.argmax(~np.isnan(theirs)))
    assert np.isnan(ours[:first]).all(), "a value before TA-Lib's first"
    assert not np.isnan(ours[first:]).any(), "a missing value after TA-Lib's first"
    np.testing.assert_allclose(ours[first:], theirs[first:], rtol=RTOL, atol=0)


C = Candles
REFERENCES: dict[str, Callable[[C], np.ndarray]] = {
    "sma(close, 20)": lambda c: talib.SMA(c.close, 20),
    "ema(close, 20)": lambda c: talib.EMA(c.close, 20),
    "stdev(close, 20)": lambda c: talib.STDDEV(c.close, 20, 1),
    "atr(14)": lambda c: talib.ATR(c.high, c.low, c.close, 14),
    "rsi(close, 14)": lambda c: talib.RSI(c.close, 14),
    "highest(high, 20)": lambda c: talib.MAX(c.high, 20),
    "lowest(low, 20)": lambda c: talib.MIN(c.low, 20),
    "change(close, 5)": lambda c: talib.MOM(c.close, 5),
    "roc(close, 5)": lambda c: talib.ROCR(c.close, 5) - 1,
    "sum(volume, 10)": lambda c: talib.SUM(c.volume, 10),
    "sum(close, 3)": lambda c: talib.SUM(c.close, 3),
    "wma(close, 9)": lambda c: talib.WMA(c.close, 9),
    "wma(close, 50)": lambda c: talib.WMA(c.close, 50),
    "bb_upper(close, 20, 2)": lambda c: talib.BBANDS(c.close, 20, 2.0, 2.0)[0],
    "bb_lower(close, 20, 2.5)": lambda c: talib.BBANDS(c.close, 20, 2.5, 2.5)[2],
    "adx(14)": lambda c: talib.ADX(c.high, c.low, c.close, 14),
    "adx(5)": lambda c: talib.ADX(c.high, c.low, c.close, 5),
    "plus_di(14)": lambda c: talib.PLUS_DI(c.high, c.low, c.close, 14),
    "minus_di(14)": lambda c: talib.MINUS_DI(c.high, c.low, c.close, 14),
    "cci(20)": lambda c: talib.CCI(c.high, c.low, c.close, 20),
    "cci(2)": lambda c: talib.CCI(c.high, c.low, c.close, 2),
    "willr(14)": lambda c: talib.WILLR(c.high, c.low, c.close, 14),
    "mfi(14)": lambda c: talib.MFI(c.high, c.low, c.close, c.volume, 14),
    "mfi(2)": lambda c: talib.MFI(c.high, c.low, c.close, c.volume, 2),
    "natr(14)": lambda c: talib.NATR(c.high, c.low, c.close, 14),
    "obv()": lambda c: talib.OBV(c.close, c.volume),
    "stoch_k(14, 3)": lambda c: talib.STOCH(c.high, c.low, c.close, 14, 3, SMA, 1, SMA)[0],
    "stoch_d(14, 3, 3)": lambda c: talib.STOCH(c.high, c.low, c.close, 14, 3, SMA, 3, SMA)[1],
    "stoch_d(9, 1, 5)": lambda c: talib.STOCH(c.high, c.low, c.close, 9, 1, SMA, 5, SMA)[1],
    "macd(close, 12, 26)": lambda c: talib.MACD(c.close, 12, 26, 1)[0],
    "macd_signal(close, 12, 26, 9)": lambda c: talib.MACD(c.close, 12, 26, 9)[1],
    "macd(close, 5, 35)": lambda c: talib.MACD(c.close, 5, 35, 1)[0],
    "macd_signal(close, 3, 10, 16)": lambda c: talib.MACD(c.close, 3, 10, 16)[1],
}


@pytest.mark.parametrize("data", sorted(DATA))
@pytest.mark.parametrize("expression", sorted(REFERENCES))
def test_the_language_equals_talib(expression: str, data: str) -> None:
    candles = DATA[data]
    same_as_talib(language(candles, expression), REFERENCES[expression](candles))


@pytest.mark.parametrize("data", sorted(DATA))
def test_the_builtin_macd_is_talibs(data: str) -> None:
    candles = DATA[data]
    line, signal = IndicatorCache(candles).macd(12, 26, 9)
    # TA-Lib's MACD(12, 26, 9) outputs start where the signal does; the line alone is its
    # MACD(12, 26, 1).
    same_as_talib(line, talib.MACD(candles.close, 12, 26, 1)[0])
    same_as_talib(signal, talib.MACD(candles.close, 12, 26, 9)[1])


def test_the_old_seeding_is_gone_on_goog() -> None:
    # Seeding the fast EMA on its own first values put the line 0.275 away from TA-Lib's and
    # flipped its sign at bar 44; the line now starts at bar 25 with TA-Lib's value.
    close = DATA["GOOG"].close
    ours = language(DATA["GOOG"], "macd(close, 12, 26)")
    own_seeding = talib.EMA(close, 12) - talib.EMA(close, 26)
    theirs = talib.MACD(close, 12, 26, 1)[0]
    assert np.nanmax(np.abs(own_seeding - theirs)) > 0.2
    assert np.nanmax(np.abs(ours - theirs)) < 1e-9
