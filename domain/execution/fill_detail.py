"""`fill_detail`: the shorter candles inside each bar, laid out for the kernel
(docs/simulation.md, "Orders, sizing and intrabar fills").

Each bar gets the slice of detail candles whose open times fall inside it; a bar gets an
empty slice (and is checked on the bar alone) unless every one of its detail candles is
stored. A perpetual's funding times of such bars are placed on the detail candle containing
them, at its open (a funding time at the candle's open time, or in a gap of the data before
the bar) or inside it, with the open of that candle's mark-price candle as the mark.
"""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from domain.execution.kernel import KernelDetail, no_detail
from domain.market.candles import Candles
from domain.market.intervals import close_time, interval_ms
from domain.market.perp_market import PerpMarket, aligned_mark, funding_bars


@dataclass(frozen=True)
class FillDetail:
    """The detail candles of a backtest's range, of interval `interval`, and their
    mark-price candles where stored (perpetuals)."""

    interval: str
    candles: Candles
    mark: Candles | None = None


@dataclass(frozen=True)
class LaidOut:
    """The kernel's detail input for some bars, and which bars lack full detail."""

    kernel: KernelDetail
    missing: npt.NDArray[np.bool_]  # per bar: not every detail candle stored

    def bars_without(self, start: int, stop: int) -> int:
        return int(np.count_nonzero(self.missing[start:stop]))


def _slices(
    open_time: npt.NDArray[np.int64], interval: str, detail: FillDetail
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Each bar's [first, stop) of the detail candles, emptied where some are missing."""
    if interval == "M":
        ends = np.array([close_time(int(t), interval) for t in open_time], np.int64)
    else:
        ends = open_time + interval_ms(interval)
    first, stop = _positions(
        detail.candles.open_time, interval_ms(detail.interval), open_time, ends
    )
    expected = (ends - open_time) // interval_ms(detail.interval)
    missing = (stop - first) != expected
    stop[missing] = first[missing]
    return first, stop, missing


def _positions(
    times: npt.NDArray[np.int64],
    step: int,
    starts: npt.NDArray[np.int64],
    ends: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Where each [start, end) begins and ends in the sorted `times`: by arithmetic when the
    times are a regular grid of `step` (no candle missing), else by binary search."""
    if times.size and int(times[-1] - times[0]) == (times.size - 1) * step:
        at = (np.clip(starts, times[0], times[-1] + step) - times[0] + step - 1) // step
        to = (np.clip(ends, times[0], times[-1] + step) - times[0] + step - 1) // step
        return at.astype(np.int64), to.astype(np.int64)
    first = np.searchsorted(times, starts, side="left").astype(np.int64)
    return first, np.searchsorted(times, ends, side="left").astype(np.int64)


def lay_out_detail(
    candles: Candles,
    interval: str,
    detail: FillDetail | None,
    market: PerpMarket | None,
    books_funding: bool,
) -> LaidOut:
    """The kernel's `KernelDetail` for `candles` (none without `detail`)."""
    if detail is None:
        return LaidOut(no_detail(), np.zeros(len(candles), np.bool_))
    first, stop, missing = _slices(candles.open_time, interval, detail)
    d = detail.candles
    mark_open, mark_high, mark_low, _ = aligned_mark(d, detail.mark)
    at_open = np.empty(0)
    inside = np.empty(0)
    if books_funding and market is not None:
        at_open, inside = _detail_funding(candles, interval, first, stop, d, market)
    kernel = KernelDetail(
        first,
        stop,
        np.ascontiguousarray(d.open, np.float64),
        np.ascontiguousarray(d.high, np.float64),
        np.ascontiguousarray(d.low, np.float64),
        mark_open,
        mark_high,
        mark_low,
        at_open,
        inside,
    )
    return LaidOut(kernel, missing)


def _detail_funding(
    candles: Candles,
    interval: str,
    first: npt.NDArray[np.int64],
    stop: npt.NDArray[np.int64],
    detail: Candles,
    market: PerpMarket,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The rates booked at each detail candle's open and inside it, for bars with detail."""
    at_open = np.zeros(len(detail))
    inside = np.zeros(len(detail))
    times = market.funding_times
    bars = funding_bars(candles.open_time, interval, times)
    for time, rate, bar in zip(
        times.tolist(), market.funding_rates.tolist(), bars.tolist(), strict=True
    ):
        if bar >= len(candles) or stop[bar] == first[bar]:
            continue  # after the data, or booked on a bar without detail
        lo, hi = int(first[bar]), int(stop[bar])
        j = lo + int(np.searchsorted(detail.open_time[lo:hi], time, side="right")) - 1
        if j < lo:
            at_open[lo] += rate  # in a gap of the data before the bar
        elif detail.open_time[j] == time:
            at_open[j] += rate
        else:
            inside[j] += rate
    return at_open, inside


__all__ = ["FillDetail", "LaidOut", "lay_out_detail"]
