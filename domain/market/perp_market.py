"""A perpetual's market beside its candles, one value per candle: the mark price and the
funding rates booked at each bar (docs/simulation.md, "Perpetual futures")."""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from domain.market.candles import Candles
from domain.market.intervals import floor_open_time

FloatColumn = npt.NDArray[np.float64]


@dataclass(frozen=True)
class PerpMarket:
    mark_open: FloatColumn  # the mark-price candle's, or the candle's own where none is stored
    mark_high: FloatColumn
    mark_low: FloatColumn
    funding_rate: FloatColumn  # the sum of the rates whose funding time this bar books

    def __len__(self) -> int:
        return int(self.mark_open.size)

    def between(self, start: int, stop: int) -> "PerpMarket":
        """Bars [start, stop), as views."""
        return PerpMarket(
            self.mark_open[start:stop],
            self.mark_high[start:stop],
            self.mark_low[start:stop],
            self.funding_rate[start:stop],
        )


def funding_bars(
    open_time: npt.NDArray[np.int64], interval: str, funding_time: npt.NDArray[np.int64]
) -> npt.NDArray[np.intp]:
    """The bar booking each funding time: the one containing it, else (in a gap of the data)
    the next; len(open_time) for one after the data or before its first bar."""
    if open_time.size == 0:
        return np.full(funding_time.size, 0, np.intp)
    containing = np.array([floor_open_time(int(t), interval) for t in funding_time], np.int64)
    bars = np.searchsorted(open_time, containing, side="left")
    bars[containing < open_time[0]] = open_time.size
    return bars


def perp_market(
    candles: Candles,
    interval: str,
    mark: Candles,
    funding_time: npt.NDArray[np.int64],
    funding_rate: FloatColumn,
) -> PerpMarket:
    """The mark price aligned to `candles` by open time (the candle itself where the mark is
    missing) and the funding rates summed on the bars that book them."""
    where = np.searchsorted(mark.open_time, candles.open_time)
    found = where < mark.open_time.size
    found[found] = mark.open_time[where[found]] == candles.open_time[found]
    at = where[found]

    def aligned(own: FloatColumn, marked: FloatColumn) -> FloatColumn:
        column = np.array(own, np.float64)
        column[found] = marked[at]
        return column

    rates = np.zeros(len(candles))
    bars = funding_bars(candles.open_time, interval, funding_time)
    booked = bars < len(candles)
    np.add.at(rates, bars[booked], np.asarray(funding_rate, np.float64)[booked])
    return PerpMarket(
        aligned(candles.open, mark.open),
        aligned(candles.high, mark.high),
        aligned(candles.low, mark.low),
        rates,
    )
