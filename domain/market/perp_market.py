"""A perpetual's market beside its candles, one value per candle: the mark price and the
funding rates booked at each bar (docs/simulation.md, "Perpetual futures"), and the rate in
force at each bar's end that rules read as `funding_rate`."""

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from domain.market.candles import Candles
from domain.market.intervals import close_time, floor_open_time, interval_ms
from domain.market.market_events import MarketEvents, market_events

FloatColumn = npt.NDArray[np.float64]


def _none() -> FloatColumn:
    return np.empty(0, np.float64)


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
    # The mark-price close (empty: not given, the candles' close stands in).
    mark_close: FloatColumn = field(default_factory=_none)
    # The rate of the latest funding time at or before each bar's end, NaN before the first
    # (empty: not given, so missing throughout).
    funding_in_force: FloatColumn = field(default_factory=_none)
    # Where the market can act on a held position, indexed from the columns above (None: not
    # yet, `events()` indexes them).
    indexed: MarketEvents | None = None

    def __len__(self) -> int:
        return int(self.mark_open.size)

    def events(self) -> MarketEvents:
        if self.indexed is not None:
            return self.indexed
        return market_events(
            self.mark_open, self.mark_high, self.mark_low, self.funding_rate, self.funding_inside
        )

    def mark_close_or(self, close: FloatColumn) -> FloatColumn:
        return self.mark_close if self.mark_close.size else np.asarray(close, np.float64)

    def funding_in_force_or_missing(self) -> FloatColumn:
        if self.funding_in_force.size:
            return self.funding_in_force
        return np.full(len(self), np.nan)

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
            self.mark_close[start:stop],
            self.funding_in_force[start:stop],
            None if self.indexed is None else self.indexed.between(start, stop),
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
    rates = np.asarray(funding_rate, np.float64)
    bars = funding_bars(candles.open_time, interval, funding_time)
    booked = bars < len(candles)
    inside = np.zeros(funding_time.size, np.bool_)
    inside[booked] = funding_time[booked] > candles.open_time[bars[booked]]
    at_open = np.zeros(len(candles))
    np.add.at(at_open, bars[booked & ~inside], rates[booked & ~inside])
    within = np.zeros(len(candles))
    np.add.at(within, bars[inside], rates[inside])
    mark_open, mark_high, mark_low, mark_close = aligned_mark(candles, mark)
    return PerpMarket(
        mark_open,
        mark_high,
        mark_low,
        at_open,
        within,
        np.asarray(funding_time, np.int64),
        rates,
        mark_close=mark_close,
        funding_in_force=funding_in_force(candles.open_time, interval, funding_time, rates),
        indexed=market_events(mark_open, mark_high, mark_low, at_open, within),
    )


def aligned_mark(
    candles: Candles, mark: Candles | None
) -> tuple[FloatColumn, FloatColumn, FloatColumn, FloatColumn]:
    """(open, high, low, close) of the mark-price candles aligned to `candles` by open time,
    the candle's own where no mark-price candle is stored."""
    if mark is None or len(mark) == 0:
        return candles.open, candles.high, candles.low, candles.close
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
        aligned(candles.close, mark.close),
    )
