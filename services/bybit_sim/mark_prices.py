"""The mark price of a perpetual: its last-price minutes moved by a slow, deterministic basis.

The basis is a function of the minute alone, so a minute's close and the next minute's open
get the same factor and the mark candles of every interval aggregate exactly like the candles.
"""

import math

import numpy as np
from numpy.typing import NDArray

from domain.market.intervals import MINUTE_MS
from services.bybit_sim.bars import Bars
from services.bybit_sim.instruments import Instrument, stable_int
from services.bybit_sim.minute_sources import MinuteSource

_DAILY_AMPLITUDE = 4e-4  # a few basis points, as on liquid perpetuals
_WEEKLY_AMPLITUDE = 2e-4


def basis(seed: int, symbol: str, minutes: NDArray[np.int64]) -> NDArray[np.float64]:
    """(mark - last) / last at the start of each epoch minute."""
    phase = stable_int(seed, "basis", symbol) % 10_000 / 10_000 * 2 * math.pi
    daily = np.sin(2 * math.pi * minutes / 1440 + phase)
    weekly = np.sin(2 * math.pi * minutes / 10_080 + 2 * phase)
    result: NDArray[np.float64] = _DAILY_AMPLITUDE * daily + _WEEKLY_AMPLITUDE * weekly
    return result


class MarkPriceMinutes:
    """A MinuteSource of mark prices over the last-price source of the same instrument."""

    def __init__(self, seed: int, last_price: MinuteSource) -> None:
        self.instrument: Instrument = last_price.instrument
        self.first_ms = last_price.first_ms
        self.last_ms = last_price.last_ms
        self._seed = seed
        self._last_price = last_price

    def day(self, day_index: int) -> Bars:
        bars = self._last_price.day(day_index)
        minutes = bars.open_time // MINUTE_MS
        at_open = 1 + basis(self._seed, self.instrument.symbol, minutes)
        at_close = 1 + basis(self._seed, self.instrument.symbol, minutes + 1)

        def moved(ticks: NDArray[np.int64], factor: NDArray[np.float64]) -> NDArray[np.int64]:
            return np.maximum(np.rint(ticks * factor), 1).astype(np.int64)

        open_, close = moved(bars.open, at_open), moved(bars.close, at_close)
        high = np.maximum(np.maximum(open_, close), moved(bars.high, at_open))
        low = np.minimum(np.minimum(open_, close), moved(bars.low, at_open))
        return Bars(
            bars.open_time, open_, high, low, close, bars.volume, bars.turnover, bars.exists
        )
