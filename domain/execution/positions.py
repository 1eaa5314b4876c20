"""One position's rules, written once for the one-symbol kernel (`kernel.py`) and the
portfolio loop (`portfolio.py`): its row of the trade book (the entry fill with its quantity
and levels, the exit fill, funding paid, the mark at the end of the data), the stop check of
a candle (stop loss, trailing stop, take profit, liquidation), the trail's ratchet and the
time stop (docs/simulation.md, "Simulation rules", "Perpetual futures" and "Orders, sizing
and intrabar fills").

The callers keep the state (scalars for one symbol, per-symbol arrays for a portfolio) and
decide when each rule applies; these functions say what it does.
"""

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from domain.compiled_cache import njit
from domain.execution.fill_levels import (
    beyond,
    liquidation_prices,
    nearer_stop,
    share_of_value,
    stop_exit,
    stop_level,
    trailing_level,
    value,
)
from domain.execution.kernel_records import FloatArray, KernelSettings
from domain.execution.settings import EXIT_LIQUIDATION, EXIT_STILL_OPEN

# The trade book the loops fill in place, `max_trades` rows of one record each: a structured
# array, so a fill touches one array (numba counts references per array it reads, and the 15
# columns of separate arrays cost 30 atomic counts a fill), read out as `TradeColumns`.
TRADE_RECORD = np.dtype(
    [
        ("side", np.int8),
        ("entry_at", np.int8),  # AT_OPEN, INSIDE or AT_CLOSE
        ("exit_at", np.int8),  # -1 while still open
        ("reason", np.int8),
        ("entry_bar", np.int64),
        ("exit_bar", np.int64),
        ("entry_candle", np.int64),  # the detail candle of the fill; -1: the bar's
        ("exit_candle", np.int64),
        ("entry_price", np.float64),
        ("exit_price", np.float64),
        ("qty", np.float64),
        ("pnl", np.float64),
        ("fees", np.float64),
        ("funding", np.float64),
        ("entry_equity", np.float64),  # the equity just before the entry fill (flat: the cash)
    ],
    align=True,
)
TradeBook = npt.NDArray[np.void]


class TradeColumns(NamedTuple):
    """The book's first trades, one contiguous array per column."""

    side: npt.NDArray[np.int8]
    entry_bar: npt.NDArray[np.int64]
    entry_price: FloatArray
    exit_bar: npt.NDArray[np.int64]
    exit_price: FloatArray
    qty: FloatArray
    pnl: FloatArray
    fees: FloatArray
    reason: npt.NDArray[np.int8]
    funding: FloatArray
    entry_at: npt.NDArray[np.int8]
    entry_candle: npt.NDArray[np.int64]
    exit_at: npt.NDArray[np.int8]
    exit_candle: npt.NDArray[np.int64]
    entry_equity: FloatArray


@njit(cache=True)
def trade_book(capacity: int) -> TradeBook:
    """Rows left unwritten (not a page of them touched) until `open_trade` fills them."""
    return np.empty(capacity, TRADE_RECORD)


@njit(cache=True)
def trade_columns(book: TradeBook, trades: int) -> TradeColumns:
    """The first `trades` rows of `book`, column by column."""
    rows = book[:trades]
    return TradeColumns(
        np.ascontiguousarray(rows["side"]),
        np.ascontiguousarray(rows["entry_bar"]),
        np.ascontiguousarray(rows["entry_price"]),
        np.ascontiguousarray(rows["exit_bar"]),
        np.ascontiguousarray(rows["exit_price"]),
        np.ascontiguousarray(rows["qty"]),
        np.ascontiguousarray(rows["pnl"]),
        np.ascontiguousarray(rows["fees"]),
        np.ascontiguousarray(rows["reason"]),
        np.ascontiguousarray(rows["funding"]),
        np.ascontiguousarray(rows["entry_at"]),
        np.ascontiguousarray(rows["entry_candle"]),
        np.ascontiguousarray(rows["exit_at"]),
        np.ascontiguousarray(rows["exit_candle"]),
        np.ascontiguousarray(rows["entry_equity"]),
    )


# What an entry leaves: the cash it costs (negative), the quantity, the stop loss, take
# profit, trailing ATR distance, liquidation and bankruptcy prices, and the fill (the trail's
# first best price).
Entry = tuple[float, float, float, float, float, float, float, float]


@njit(cache=True, inline="always")
def open_trade(
    book: TradeBook,
    k: int,
    side: int,
    price: float,
    t: int,
    at: int,
    candle: int,
    atr_at_fill: float,
    money: float,
    equity: float,
    fee_rate: float,
    settings: KernelSettings,
) -> Entry:
    """Book trade k's entry of `side` at `price` (before slippage) in bar t, `at` its open,
    inside it or at its close (in detail candle `candle`, or -1), with a stake of `money`
    (the margin and fee it may spend), `equity` the account's just before the fill (what
    risk sizing risks a share of), paying `fee_rate`; stops from `atr_at_fill` (NaN: none)."""
    s = settings
    inverse = s.inverse
    fill = price * (1.0 + s.slippage) if side > 0 else price * (1.0 - s.slippage)
    stop_loss_level = stop_level(-side, s.stop_loss, s.stop_loss_atr, fill, atr_at_fill)
    take_profit_level = stop_level(side, s.take_profit, s.take_profit_atr, fill, atr_at_fill)
    liquidation_level = np.nan
    bankruptcy_level = np.nan
    if s.liquidates:
        liquidation_level, bankruptcy_level = liquidation_prices(
            inverse, side, fill, s.leverage, s.maintenance_margin_rate
        )
        if beyond(side, stop_loss_level, liquidation_level):
            stop_loss_level = np.nan
    # At leverage 1 the spot formula: 1.0 / 1.0 + fee_rate is 1.0 + fee_rate.
    if inverse:
        qty = money * fill / (1.0 / s.leverage + fee_rate)
    else:
        qty = money / (fill * (1.0 / s.leverage + fee_rate))
    if not np.isnan(s.risk) and not np.isnan(stop_loss_level):
        # What loses `risk` of the equity at the stop's level, capped at the stake's.
        at_risk = abs(value(inverse, fill) - value(inverse, stop_loss_level))
        if at_risk > 0.0:  # a stop at the fill itself (an ATR of 0) risks all: the cap
            qty = min(qty, s.risk * equity / at_risk)
    fee = share_of_value(inverse, fee_rate, qty, fill)
    trade = book[k]
    trade.entry_equity = equity
    trade.side = side
    trade.entry_bar = t
    trade.entry_price = fill
    trade.qty = qty
    trade.fees = fee
    trade.entry_at = at
    trade.entry_candle = candle
    trade.funding = 0.0
    trade.exit_bar = -1
    trade.exit_at = -1
    trade.exit_candle = -1
    return (
        -(side * qty * value(inverse, fill) + fee),
        qty,
        stop_loss_level,
        take_profit_level,
        s.trailing_stop_atr * atr_at_fill,
        liquidation_level,
        bankruptcy_level,
        fill,
    )


@njit(cache=True, inline="always")
def close_trade(
    book: TradeBook,
    k: int,
    side: int,
    qty: float,
    price: float,
    reason: int,
    t: int,
    at: int,
    candle: int,
    settings: KernelSettings,
) -> float:
    """Book trade k's exit at `price` (before slippage) in bar t (`at` and `candle` as for
    `open_trade`); the cash it brings."""
    inverse = settings.inverse
    if reason == EXIT_LIQUIDATION:
        fill = price  # the bankruptcy price, no fee: the gap to LP is the fee
        fee = 0.0
    else:
        slippage = settings.slippage
        fill = price * (1.0 - slippage) if side > 0 else price * (1.0 + slippage)
        fee = share_of_value(inverse, settings.fee_rate, qty, fill)
    trade = book[k]
    trade.exit_bar = t
    trade.exit_price = fill
    trade.fees += fee
    gain = side * qty * (value(inverse, fill) - value(inverse, trade.entry_price))
    trade.pnl = gain - trade.fees - trade.funding
    trade.reason = reason
    trade.exit_at = at
    trade.exit_candle = candle
    return side * qty * value(inverse, fill) - fee


@njit(cache=True, inline="always")
def mark_still_open(
    book: TradeBook, k: int, side: int, qty: float, last_close: float, inverse: bool
) -> None:
    """Trade k, open when the data ends: marked at the last close, no exit fee."""
    trade = book[k]
    trade.exit_price = last_close
    gain = side * qty * (value(inverse, last_close) - value(inverse, trade.entry_price))
    trade.pnl = gain - trade.fees - trade.funding
    trade.reason = EXIT_STILL_OPEN


@njit(cache=True, inline="always")
def pay_funding(
    book: TradeBook, k: int, side: int, qty: float, rate: float, mark: float, inverse: bool
) -> float:
    """What trade k's position pays at a funding time of `rate` (negative: receives)."""
    paid = side * share_of_value(inverse, rate, qty, mark)
    book[k].funding += paid
    return paid


@njit(cache=True, inline="always")
def stop_hit(
    side: int,
    stop_loss_level: float,
    take_profit_level: float,
    trailing_distance: float,
    best: float,
    liquidation_level: float,
    bankruptcy_level: float,
    settings: KernelSettings,
    c_open: float,
    c_high: float,
    c_low: float,
    m_open: float,
    m_high: float,
    m_low: float,
) -> tuple[float, int, bool]:
    """(price, reason, at the open) of the stop, trailing stop, take profit or liquidation a
    candle reaches first, or (NaN, -1, False): the trail from `best` (one the liquidation
    would come before is not set), the nearer of it and the stop loss."""
    trailing = trailing_level(side, best, settings.trailing_stop, trailing_distance)
    if beyond(side, trailing, liquidation_level):
        trailing = np.nan
    level, level_reason = nearer_stop(side, stop_loss_level, trailing)
    return stop_exit(
        side,
        level,
        level_reason,
        take_profit_level,
        c_open,
        c_high,
        c_low,
        liquidation_level,
        bankruptcy_level,
        m_open,
        m_high,
        m_low,
    )


@njit(cache=True, inline="always")
def ratchet(side: int, best: float, high: float, low: float) -> float:
    """The trail's best price after a candle that ended after the fill."""
    return max(best, high) if side > 0 else min(best, low)


@njit(cache=True, inline="always")
def time_stop_due(closes_held: int, settings: KernelSettings) -> bool:
    """A position held through `max_bars_in_trade` bar closes exits (0: no time stop)."""
    return settings.max_bars_in_trade > 0 and closes_held >= settings.max_bars_in_trade


@njit(cache=True, inline="always")
def missing_atr(uses_atr: bool, atr_at_fill: float) -> int:
    """1 for an entry that asked for an ATR stop while no ATR was known at its fill."""
    return 1 if uses_atr and np.isnan(atr_at_fill) else 0
