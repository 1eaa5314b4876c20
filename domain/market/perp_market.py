"""A perpetual's market beside its candles, one value per candle: the mark price and the
funding rates booked at each bar, at its open time or inside it (docs/simulation.md,
"Perpetual futures"); and the funding times themselves, which `fill_detail` places on the
detail candles."""

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
    # The sum of the rates this bar books at its open time: a funding time at its open, or
    # in a gap of the data before it (paid by the position coming into the bar).
    funding_rate: FloatColumn
    # The sum of the rates whose funding time is strictly inside the bar (paid by the
    # position after the fills at its open, before those inside it or at its close).
    funding_inside: FloatColumn
    # Every funding time of the range (epoch ms, ascending) and its rate.
    funding_times: npt.NDArray[np.int64]
    funding_rates: FloatColumn

    def __len__(self) -> int:
        return int(self.mark_open.size)

    def between(self, start: int, stop: int) -> "PerpMarket":
        """Bars [start, stop), as views (the funding times stay whole)."""
        return PerpMarket(
            self.mark_open[start:stop],
            self.mark_high[start:stop],
            self.mark_low[start:stop],
            self.funding_rate[start:stop],
            self.funding_inside[start:stop],
            self.funding_times,
            self.funding_rates,
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
    rates = np.asarray(funding_rate, np.float64)
    bars = funding_bars(candles.open_time, interval, funding_time)
    booked = bars < len(candles)
    inside = np.zeros(funding_time.size, np.bool_)
    inside[booked] = funding_time[booked] > candles.open_time[bars[booked]]
    at_open = np.zeros(len(candles))
    np.add.at(at_open, bars[booked & ~inside], rates[booked & ~inside])
    within = np.zeros(len(candles))
    np.add.at(within, bars[inside], rates[inside])
    return PerpMarket(
        *aligned_mark(candles, mark),
        at_open,
        within,
        np.asarray(funding_time, np.int64),
        rates,
    )


def aligned_mark(
    candles: Candles, mark: Candles | None
) -> tuple[FloatColumn, FloatColumn, FloatColumn]:
    """(open, high, low) of the mark-price candles aligned to `candles` by open time, the
    candle's own where no mark-price candle is stored."""
    if mark is None or len(mark) == 0:
        return candles.open, candles.high, candles.low
    where = np.searchsorted(mark.open_time, candles.open_time)
    found = where < mark.open_time.size
    found[found] = mark.open_time[where[found]] == candles.open_time[found]
    at = where[found]

    def aligned(own: FloatColumn, marked: FloatColumn) -> FloatColumn:
        column = np.array(own, np.float64)
        column[found] = marked[at]
        return column

    return (
        aligned(candles.open, mark.open),
        aligned(candles.high, mark.high),
        aligned(candles.low, mark.low),
    )
