"""What a trader reads of each trade beyond its fills (docs/simulation.md, "Orders, sizing
and intrabar fills"): how many bar closes it held, its maximum adverse and favourable
excursions from the entry price, and its return on the account's equity.

Computed after the kernel from its trade columns and the candles, so the fill loop stays as
it is. Which part of a bar a trade lived through follows from where its fills were: an entry
at a bar's open lives through that whole bar, one at its close through none of it; an exit
at a bar's open sees that open, a stop inside a bar the open and the stop's own level (the
fill before slippage), an exit at the close the whole bar; a trade still open lives to the
last bar's close.
"""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from domain.compiled_cache import njit
from domain.execution.kernel import Kernel
from domain.execution.prefetch import prefetch
from domain.execution.settings import EXIT_LIQUIDATION, EXIT_SIGNAL, EXIT_STILL_OPEN

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
# How each trade's entry filled; only market orders exist so far.
ENTRY_ORDERS = ("market", "limit")
ENTRY_MARKET = 0


@dataclass(frozen=True)
class TradeDetails:
    """Per trade, aligned with `Trades`."""

    mae: FloatArray  # worst adverse excursion from the entry price, a fraction of it (>= 0)
    mfe: FloatArray  # best favourable excursion, a fraction of the entry price (>= 0)
    bars_held: IntArray  # bar closes after the entry fill and at or before the exit fill
    equity_return: FloatArray  # pnl / the equity just before the entry fill
    entry_order: npt.NDArray[np.int8]  # index into ENTRY_ORDERS

    def __len__(self) -> int:
        return int(self.mae.size)


@dataclass(frozen=True)
class FillPlaces:
    """Where each trade's fills were inside their bars: the whole bars it held (from
    `first_bar` to `last_bar`, empty when last < first) and the exit bar's prices seen
    besides (its open, and a stop's level)."""

    first_bar: IntArray
    last_bar: IntArray
    sees_exit_open: npt.NDArray[np.bool_]
    exit_level: FloatArray  # NaN: none


@njit(cache=True, error_model="numpy")
def _fill_places(
    side: npt.NDArray[np.int8],
    entry_bar: IntArray,
    exit_bar: IntArray,
    exit_price: FloatArray,
    exit_reason: npt.NDArray[np.int8],
    last_bar: IntArray,
    fill_at_close: bool,
    slippage: float,
) -> tuple[IntArray, IntArray, npt.NDArray[np.bool_], FloatArray]:
    """`fill_places`, trade by trade in one compiled pass."""
    trades = side.size
    first = np.empty(trades, np.int64)
    last = np.empty(trades, np.int64)
    sees_exit_open = np.empty(trades, np.bool_)
    exit_level = np.empty(trades)
    for k in range(trades):
        reason = exit_reason[k]
        still_open = reason == EXIT_STILL_OPEN
        signal = reason == EXIT_SIGNAL
        inside = not still_open and not signal  # stops, take profits, trails, liquidations
        first[k] = entry_bar[k] + (1 if fill_at_close else 0)
        if still_open:
            last[k] = last_bar[k]
        elif signal and fill_at_close:
            last[k] = exit_bar[k]
        else:
            last[k] = exit_bar[k] - 1
        sees_exit_open[k] = (signal and not fill_at_close) or inside
        # A stop's level is its fill before slippage (a liquidation, at bankruptcy, has none).
        level = np.nan
        if reason == EXIT_LIQUIDATION:
            level = exit_price[k]
        elif inside:
            slipped = 1.0 - slippage if side[k] > 0 else 1.0 + slippage
            level = exit_price[k] / slipped
        exit_level[k] = level
    return first, last, sees_exit_open, exit_level


def fill_places(
    side: npt.NDArray[np.int8],
    entry_bar: IntArray,
    exit_bar: IntArray,
    exit_price: FloatArray,
    exit_reason: npt.NDArray[np.int8],
    last_bar: int | IntArray,
    fill_at_close: bool,
    slippage: float,
) -> FillPlaces:
    """`last_bar`: the index of the last traded bar (a trade still open lives to its close),
    or each trade's own (a portfolio's symbols end apart)."""
    last = np.full(side.size, last_bar, np.int64) if np.ndim(last_bar) == 0 else last_bar
    return FillPlaces(
        *_fill_places(
            side,
            entry_bar,
            exit_bar,
            exit_price,
            exit_reason,
            np.ascontiguousarray(last, np.int64),
            fill_at_close,
            slippage,
        )
    )


def bars_held(places: FillPlaces) -> IntArray:
    """Bar closes after the entry fill and at or before the exit fill."""
    held: IntArray = np.maximum(places.last_bar - places.first_bar + 1, 0).astype(np.int64)
    return held


# Each trade reads a few bars far from the last trade's: those of the trade this many ahead are
# prefetched (its first bars' highs and lows, its exit bar's open), so their reads from main
# memory overlap.
_TRADES_AHEAD = 4


@njit(cache=True)
def _excursions(
    bar_open: FloatArray,
    bar_high: FloatArray,
    bar_low: FloatArray,
    side: npt.NDArray[np.int8],
    entry_price: FloatArray,
    first_bar: IntArray,
    last_bar: IntArray,
    exit_bar: IntArray,
    sees_exit_open: npt.NDArray[np.bool_],
    exit_level: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    trades = side.size
    mae = np.zeros(trades)
    mfe = np.zeros(trades)
    for k in range(trades):
        if k + _TRADES_AHEAD < trades:  # what a later trade reads, fetched while this one runs
            ahead = first_bar[k + _TRADES_AHEAD]
            prefetch(bar_high, ahead)
            prefetch(bar_low, ahead)
            prefetch(bar_high, ahead + 8)
            prefetch(bar_low, ahead + 8)
            prefetch(bar_open, exit_bar[k + _TRADES_AHEAD])
        entry = entry_price[k]
        highest = entry
        lowest = entry
        for t in range(first_bar[k], last_bar[k] + 1):
            highest = max(highest, bar_high[t])
            lowest = min(lowest, bar_low[t])
        if sees_exit_open[k]:
            highest = max(highest, bar_open[exit_bar[k]])
            lowest = min(lowest, bar_open[exit_bar[k]])
        if not np.isnan(exit_level[k]):
            highest = max(highest, exit_level[k])
            lowest = min(lowest, exit_level[k])
        up = (highest - entry) / entry
        down = (entry - lowest) / entry
        if side[k] > 0:
            mae[k], mfe[k] = down, up
        else:
            mae[k], mfe[k] = up, down
    return mae, mfe


def excursions(
    prices: tuple[FloatArray, FloatArray, FloatArray, FloatArray],
    side: npt.NDArray[np.int8],
    entry_price: FloatArray,
    exit_bar: IntArray,
    places: FillPlaces,
) -> tuple[FloatArray, FloatArray]:
    """(mae, mfe) of each trade over the prices it lived through; `prices` the contiguous
    (open, high, low, close) columns the kernel ran on."""
    bar_open, bar_high, bar_low, _ = prices
    return _excursions(
        bar_open,
        bar_high,
        bar_low,
        side,
        entry_price,
        places.first_bar,
        places.last_bar,
        exit_bar,
        places.sees_exit_open,
        places.exit_level,
    )


def kernel_places(
    kernel: Kernel, last_bar: int, fill_at_close: bool, slippage: float
) -> FillPlaces:
    """`fill_places` of the kernel's trades, `last_bar` the index of the last traded bar."""
    return fill_places(
        kernel.side,
        kernel.entry_bar,
        kernel.exit_bar,
        kernel.exit_price,
        kernel.exit_reason,
        last_bar,
        fill_at_close,
        slippage,
    )


def trade_details(
    kernel: Kernel,
    prices: tuple[FloatArray, FloatArray, FloatArray, FloatArray],
    fill_at_close: bool,
    slippage: float,
) -> TradeDetails:
    """Every trade's details, `prices` the columns the kernel ran on (cut where it stopped)."""
    places = kernel_places(kernel, prices[3].size - 1, fill_at_close, slippage)
    mae, mfe = excursions(prices, kernel.side, kernel.entry_price, kernel.exit_bar, places)
    with np.errstate(divide="ignore", invalid="ignore"):
        equity_return = kernel.pnl / kernel.entry_equity
    return TradeDetails(
        mae,
        mfe,
        bars_held(places),
        equity_return,
        np.full(kernel.side.size, ENTRY_MARKET, np.int8),
    )
