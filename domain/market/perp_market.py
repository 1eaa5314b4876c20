"""A perpetual's market beside its candles, one value per candle: the mark price and the
funding rates booked at each bar (docs/simulation.md, "Perpetual futures"), and the rate in
force at each bar's end that rules read as `funding_rate`."""

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from domain.market.candles import Candles
from domain.market.intervals import close_time, floor_open_time, interval_ms

FloatColumn = npt.NDArray[np.float64]


def _none() -> FloatColumn:
    return np.empty(0, np.float64)


@dataclass(frozen=True)
class PerpMarket:
    mark_open: FloatColumn  # the mark-price candle's, or the candle's own where none is stored
    mark_high: FloatColumn
    mark_low: FloatColumn
    funding_rate: FloatColumn  # the sum of the rates whose funding time this bar books
    # The mark-price close (empty: not given, the candles' close stands in).
    mark_close: FloatColumn = field(default_factory=_none)
    # The rate of the latest funding time at or before each bar's end, NaN before the first
    # (empty: not given, so missing throughout).
    funding_in_force: FloatColumn = field(default_factory=_none)

    def __len__(self) -> int:
        return int(self.mark_open.size)

    def mark_close_or(self, close: FloatColumn) -> FloatColumn:
        return self.mark_close if self.mark_close.size else np.asarray(close, np.float64)

    def funding_in_force_or_missing(self) -> FloatColumn:
        if self.funding_in_force.size:
            return self.funding_in_force
        return np.full(len(self), np.nan)

    def between(self, start: int, stop: int) -> "PerpMarket":
        """Bars [start, stop), as views."""
        return PerpMarket(
            self.mark_open[start:stop],
            self.mark_high[start:stop],
            self.mark_low[start:stop],
            self.funding_rate[start:stop],
            self.mark_close[start:stop],
            self.funding_in_force[start:stop],
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


def funding_in_force(
    open_time: npt.NDArray[np.int64],
    interval: str,
    funding_time: npt.NDArray[np.int64],
    funding_rate: FloatColumn,
) -> FloatColumn:
    """Per bar, the rate of the latest funding time at or before the bar's end (open_time +
    interval); NaN before the first funding time given."""
    order = np.argsort(funding_time, kind="stable")
    times = np.asarray(funding_time, np.int64)[order]
    rates = np.asarray(funding_rate, np.float64)[order]
    if interval == "M":
        ends = np.array([close_time(int(t), interval) for t in open_time], np.int64)
    else:
        ends = np.asarray(open_time, np.int64) + interval_ms(interval)
    latest = np.searchsorted(times, ends, side="right") - 1
    return np.where(latest >= 0, rates[np.maximum(latest, 0)] if rates.size else np.nan, np.nan)


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
        mark_close=aligned(candles.close, mark.close),
        funding_in_force=funding_in_force(candles.open_time, interval, funding_time, funding_rate),
    )
