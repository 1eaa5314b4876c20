"""`htf(x, interval)`: the request's candles aggregated to a longer interval, and which of
those longer bars each bar may see (docs/strategies.md, "More of the language").

A longer bar is made of the bars whose open_time falls in it (open first, high max, low min,
close last, volume and turnover summed), aligned as Bybit aligns its candles: to the epoch
for minutes and days, to Monday 00:00 UTC for weeks, to the calendar month. Bar t sees the
latest longer bar that ended at or before bar t's own end, so never one still forming.
"""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from domain.market.candles import Candles
from domain.market.intervals import DAY_MS, WEEK_MS, interval_ms
from domain.market.perp_market import PerpMarket

TimeArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
# 1970-01-01 was a Thursday; weekly candles open on Mondays, four days later.
_FIRST_MONDAY_MS = 4 * DAY_MS


def _month_starts(open_time: TimeArray, months_later: int = 0) -> TimeArray:
    months = open_time.astype("datetime64[ms]").astype("datetime64[M]") + months_later
    return months.astype("datetime64[ms]").astype(np.int64)


def bucket_open_times(open_time: TimeArray, interval: str) -> TimeArray:
    """The open time of the `interval` candle containing each time (vectorized
    `domain.market.intervals.floor_open_time`)."""
    if interval == "M":
        return _month_starts(open_time)
    if interval == "W":
        return (open_time - _FIRST_MONDAY_MS) // WEEK_MS * WEEK_MS + _FIRST_MONDAY_MS
    step = interval_ms(interval)
    return open_time // step * step


def bar_ends(open_time: TimeArray, interval: str) -> TimeArray:
    """The first millisecond after each candle opened at `open_time`."""
    if interval == "M":
        return _month_starts(open_time, 1)
    return open_time + interval_ms(interval)


@dataclass(frozen=True)
class LongerBars:
    candles: Candles  # the aggregated candles
    market: PerpMarket | None  # the perpetual's market aggregated the same way
    seen: npt.NDArray[np.intp]  # per bar: the longer bar it sees, -1 before the first ends

    def spread(self, values: FloatArray) -> FloatArray:
        """A series of the longer bars as each bar sees it; NaN where none has ended."""
        out = values[np.maximum(self.seen, 0)]
        return np.where(self.seen >= 0, out, np.nan)


def aggregate(
    candles: Candles, market: PerpMarket | None, interval: str, longer: str
) -> LongerBars:
    """`candles` of `interval` (and their market) as bars of `longer`."""
    open_time = np.asarray(candles.open_time, np.int64)
    buckets = bucket_open_times(open_time, longer)
    if buckets.size == 0:
        return LongerBars(Candles.empty(), None, np.empty(0, np.intp))
    starts = np.flatnonzero(np.concatenate(([True], buckets[1:] != buckets[:-1])))
    lasts = np.concatenate((starts[1:], [buckets.size])) - 1

    def ohlc(o: FloatArray, h: FloatArray, low: FloatArray, c: FloatArray) -> list[FloatArray]:
        return [
            np.asarray(o, np.float64)[starts],
            np.maximum.reduceat(np.asarray(h, np.float64), starts),
            np.minimum.reduceat(np.asarray(low, np.float64), starts),
            np.asarray(c, np.float64)[lasts],
        ]

    summed = [
        np.add.reduceat(np.asarray(v, np.float64), starts)
        for v in (candles.volume, candles.turnover)
    ]
    longer_candles = Candles(
        buckets[starts], *ohlc(candles.open, candles.high, candles.low, candles.close), *summed
    )
    longer_market = None
    if market is not None:
        mark = ohlc(
            market.mark_open, market.mark_high, market.mark_low, market.mark_close_or(candles.close)
        )
        longer_market = PerpMarket(
            mark[0],
            mark[1],
            mark[2],
            np.add.reduceat(np.asarray(market.funding_rate, np.float64), starts),
            mark_close=mark[3],
            funding_in_force=market.funding_in_force_or_missing()[lasts],
        )
    ends = bar_ends(buckets[starts], longer)
    seen = np.searchsorted(ends, bar_ends(open_time, interval), side="right") - 1
    return LongerBars(longer_candles, longer_market, seen.astype(np.intp))
