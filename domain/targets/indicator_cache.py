"""Indicators of one candle series, each computed once per distinct window and reused.

An optimizer builds one cache per series and evaluates every parameter set against it.
"""

import numpy as np
import numpy.typing as npt

from domain import indicators
from domain.market.candles import Candles

FloatArray = npt.NDArray[np.float64]


class IndicatorCache:
    """`shared`: asked by many parameter sets (an optimizer's), so every indicator is kept; a
    backtest's own cache (not shared) lets a strategy's targets skip indicators no other set
    will ask for."""

    def __init__(self, candles: Candles, shared: bool = True) -> None:
        self.candles = candles
        self.shared = shared
        self.close: FloatArray = np.ascontiguousarray(candles.close, np.float64)
        self._sma: dict[int, FloatArray] = {}
        self._ema: dict[int, FloatArray] = {}
        self._rsi: dict[int, FloatArray] = {}
        self._std: dict[int, FloatArray] = {}
        self._donchian: dict[int, tuple[FloatArray, FloatArray]] = {}
        self._macd_line: dict[tuple[int, int], FloatArray] = {}
        self._macd_signal: dict[tuple[int, int, int], FloatArray] = {}

    def nbytes(self) -> int:
        """The memory its indicators hold."""
        held = [
            *self._sma.values(),
            *self._ema.values(),
            *self._rsi.values(),
            *self._std.values(),
            *(band for pair in self._donchian.values() for band in pair),
            *self._macd_line.values(),
            *self._macd_signal.values(),
        ]
        return sum(array.nbytes for array in held)

    def holds_sma(self, window: int) -> bool:
        return window in self._sma

    def sma(self, window: int) -> FloatArray:
        if window not in self._sma:
            self._sma[window] = indicators.sma(self.close, window)
        return self._sma[window]

    def sma_pair(self, window_a: int, window_b: int) -> tuple[FloatArray, FloatArray]:
        """(sma(window_a), sma(window_b)): in one pass when neither is cached yet."""
        if window_a != window_b and window_a not in self._sma and window_b not in self._sma:
            self._sma[window_a], self._sma[window_b] = indicators.sma_pair(
                self.close, window_a, window_b
            )
        return self.sma(window_a), self.sma(window_b)

    def ema(self, window: int) -> FloatArray:
        if window not in self._ema:
            self._ema[window] = indicators.ema(self.close, window)
        return self._ema[window]

    def rsi(self, period: int) -> FloatArray:
        if period not in self._rsi:
            self._rsi[period] = indicators.rsi(self.close, period)
        return self._rsi[period]

    def bollinger(self, window: int, k: float) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(lower, middle, upper); the standard deviation is cached, so any k is cheap."""
        middle = self.sma(window)
        if window not in self._std:
            self._std[window] = indicators.rolling_population_std(self.close, middle, window)
        width = k * self._std[window]
        return middle - width, middle, middle + width

    def donchian(self, window: int) -> tuple[FloatArray, FloatArray]:
        if window not in self._donchian:
            self._donchian[window] = indicators.donchian(
                self.candles.high, self.candles.low, window
            )
        return self._donchian[window]

    def macd(self, fast: int, slow: int, signal: int) -> tuple[FloatArray, FloatArray]:
        if (fast, slow) not in self._macd_line:
            self._macd_line[fast, slow] = indicators.macd_line(self.close, fast, slow)
        line = self._macd_line[fast, slow]
        key = (fast, slow, signal)
        if key not in self._macd_signal:
            self._macd_signal[key] = indicators.ema(line, signal)
        return line, self._macd_signal[key]
