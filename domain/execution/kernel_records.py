"""The compiled kernel's inputs and output as typed records (NamedTuples numba compiles as
tuples): its scalar settings, its per-bar arrays, the detail candles of `fill_detail`, and
what it returns. A new setting is one field of `KernelSettings` and one read in the kernel;
a new per-bar input (an entry size fraction, say) one more array of `KernelBars`.
"""

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

# Where in its bar a fill happened: at its open (or its detail candle's), inside it (timed at
# the end of the bar, or of the detail candle), or at its close.
AT_OPEN = 0
INSIDE = 1
AT_CLOSE = 2


class Kernel(NamedTuple):
    """The kernel's raw output; trade arrays are already cut to the number of trades."""

    equity: FloatArray  # one per bar from trade_from, marked at the close
    bars_held: int  # bars that ended holding a position
    side: npt.NDArray[np.int8]  # +1 long, -1 short
    entry_bar: npt.NDArray[np.int64]
    entry_price: FloatArray
    exit_bar: npt.NDArray[np.int64]  # -1 while still open at the end
    exit_price: FloatArray  # the last close for a trade still open
    qty: FloatArray
    pnl: FloatArray
    fees: FloatArray
    exit_reason: npt.NDArray[np.int8]
    funding: FloatArray  # net funding paid over the trade (negative: received)
    # Trades that asked for an ATR stop while no ATR was known at their fill (so had none).
    without_atr: int
    # Limit orders cancelled unfilled (by a change of target or by expiry).
    unfilled_orders: int
    # Where each fill happened in its bar (AT_OPEN, INSIDE, AT_CLOSE; exit -1 while open) and
    # in which detail candle (a global index into KernelDetail's candles; -1: located by the
    # bar alone): what the excursions of a trade (mae, mfe) need to know of its fills.
    entry_at: npt.NDArray[np.int8]
    entry_candle: npt.NDArray[np.int64]
    exit_at: npt.NDArray[np.int8]
    exit_candle: npt.NDArray[np.int64]
    # The account's equity just before each entry fill (flat then, so its cash).
    entry_equity: FloatArray


class KernelSettings(NamedTuple):
    """The kernel's scalar settings, one typed record (numba compiles it as a tuple): a new
    setting is one field here and one read in the kernel.

    Stops: `x` a fraction of the price, `x_atr` a multiple of the ATR at the fill; NaN: none.
    """

    trade_from: int  # bars before it only warmed the indicators
    max_trades: int  # the capacity of the trade arrays
    fill_at_close: bool
    initial_capital: float
    fee_rate: float
    slippage: float  # a fraction: slippage_bps / 10^4
    position_size: float
    stop_loss: float
    take_profit: float
    trailing_stop: float
    stop_loss_atr: float
    take_profit_atr: float
    trailing_stop_atr: float
    inverse: bool
    leverage: float
    liquidates: bool
    maintenance_margin_rate: float
    # Entries by limit order: the offset from the signal bar's close, the bars it works, and
    # the maker fee of its fills.
    limit_entries: bool = False
    limit_offset: float = 0.0
    limit_valid_bars: int = 1
    maker_fee_rate: float = 0.0002
    max_bars_in_trade: int = 0  # 0: no time stop
    risk: float = np.nan  # sizing by risk: this fraction of equity lost at the stop; NaN: off


class KernelBars(NamedTuple):
    """The kernel's per-bar inputs, named arrays of one length (`atr` and the funding columns
    may be empty: not used). A new per-bar input (an entry size fraction, say) is one more
    field."""

    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    target: npt.NDArray[np.int8]
    # ATR(atr_period) per bar, known at its close; empty without ATR stops.
    atr: FloatArray
    # The mark price per bar (the candles themselves when none is stored).
    mark_open: FloatArray
    mark_high: FloatArray
    mark_low: FloatArray
    # Funding rates (summed) booked at the bar's open time, before its open fills (a funding
    # time at the open, or in a gap of the data before the bar), and strictly inside the bar
    # (after the open's fills, before those inside it and at its close); empty: no funding.
    funding_at_open: FloatArray
    funding_inside: FloatArray
    # Per signal bar, the share of `position_size` an entry signalled there takes (the `size`
    # rule); empty: all of it.
    entry_size: FloatArray
    # What lets a held bar be only marked, as without the market (`MarketEvents`): the bars
    # whose funding columns are not 0 (ascending; empty: none, or no funding), and per block
    # of `MARK_BLOCK` bars the lowest and highest mark, bar t in block (t + mark_block_offset)
    # // MARK_BLOCK (empty: not known, so each bar's mark is checked).
    funding_bars: npt.NDArray[np.int64]
    mark_lowest: FloatArray
    mark_highest: FloatArray
    mark_block_offset: int


class KernelDetail(NamedTuple):
    """The detail candles of `fill_detail`, flat, with each bar's slice [first, stop) of them
    (empty when the bar lacks full detail: checked on the bar alone). All empty: no detail.

    Funding of a bar with detail is booked here, at its detail candle, not in KernelBars."""

    first: npt.NDArray[np.int64]  # per bar
    stop: npt.NDArray[np.int64]  # per bar
    open: FloatArray  # per detail candle
    high: FloatArray
    low: FloatArray
    mark_open: FloatArray
    mark_high: FloatArray
    mark_low: FloatArray
    funding_at_open: FloatArray  # empty: no funding
    funding_inside: FloatArray


def no_detail() -> KernelDetail:
    empty = np.empty(0)
    ends = np.empty(0, np.int64)
    return KernelDetail(ends, ends, empty, empty, empty, empty, empty, empty, empty, empty)
