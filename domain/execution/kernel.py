"""The path-dependent part: target positions in, fills, trades and marked equity out.

One compiled pass over the bars implements docs/simulation.md's fill rules: fills at the
next open or at the close, slippage, fees, sizing (a fraction of equity, or by risk to the
stop), reversals, shorts, stop loss, take profit, trailing stop (each a fraction of the
price, or a multiple of the ATR known at the fill), limit entries and time stops. Everything
is per unit of account; quantities are fractional.

What one position does (its entry and exit fills, the stop check with the trail, the
ratchet, the time stop, funding) is written once in `positions.py`, which the portfolio loop
calls too; this module decides when each applies to the one symbol's position.

Inside a bar the kernel walks candles: the bar itself, or with `fill_detail` its detail
candles in time order (`KernelDetail`), each checked by the same rules, so detail is an input
of the one loop, not a second simulator. A bar without full detail is walked as one candle.

Perpetuals (docs/simulation.md, "Perpetual futures"): sizing with leverage, funding booked at
its time between the fills (before the fills at an open that is its time, after the fills
before it), liquidation at the bankruptcy price checked against the mark price, and inverse
contracts, whose quantity is in USD and whose account is in the base coin: a position of q
contracts is worth -q/p coins at price p where a linear one is worth q * p, so one set of
cash formulas serves both through `fill_levels.value`.
"""

import numpy as np
import numpy.typing as npt

from domain.compiled_cache import njit
from domain.execution.fill_levels import liquidated, value
from domain.execution.kernel_records import (
    AT_CLOSE,
    AT_OPEN,
    INSIDE,
    FloatArray,
    Kernel,
    KernelBars,
    KernelDetail,
    KernelSettings,
    no_detail,
)
from domain.execution.positions import (
    TradeBook,
    close_trade,
    mark_still_open,
    missing_atr,
    open_trade,
    pay_funding,
    ratchet,
    stop_hit,
    time_stop_due,
    trade_book,
    trade_columns,
)
from domain.execution.prefetch import prefetch
from domain.execution.settings import (
    EXIT_LIQUIDATION,
    EXIT_REASONS,
    EXIT_SIGNAL,
    EXIT_TIME_STOP,
)
from domain.market.market_events import MARK_BLOCK

__all__ = [
    "EXIT_LIQUIDATION",
    "EXIT_REASONS",
    "Kernel",
    "KernelBars",
    "KernelDetail",
    "KernelSettings",
    "no_detail",
]


# How far ahead of the marked bars the prices a fill reads are fetched: about the bars
# marked while main memory answers.
_OPENS_AHEAD = 64


@njit(cache=True, inline="always")
def _enter(
    book: TradeBook,
    k: int,
    side: int,
    price: float,
    t: int,
    at: int,
    candle: int,
    atr_at_fill: float,
    cash: float,
    fee_rate: float,
    size: float,
    uses_atr: bool,
    settings: KernelSettings,
) -> tuple[float, float, float, float, float, float, float, float, int]:
    """`open_trade` from the flat account: a stake of its equity (its cash) times
    `position_size` times `size` (the `size` rule's share at the signal bar, 1 without one);
    (cash after, qty, stop loss, take profit, trailing ATR distance, liquidation, bankruptcy,
    the trail's best price, 1 if it had no ATR for its ATR stops)."""
    entry = open_trade(
        book,
        k,
        side,
        price,
        t,
        at,
        candle,
        atr_at_fill,
        cash * (settings.position_size * size),
        cash,
        fee_rate,
        settings,
    )
    qty, stop_loss_level, take_profit_level, trailing_distance = entry[1:5]
    liquidation_level, bankruptcy_level, fill = entry[5:]
    return (
        cash + entry[0],
        qty,
        stop_loss_level,
        take_profit_level,
        trailing_distance,
        liquidation_level,
        bankruptcy_level,
        fill,
        missing_atr(uses_atr, atr_at_fill),
    )


@njit(cache=True, inline="always")
def _size_at(entry_size: FloatArray, signal_bar: int) -> float:
    """The `size` rule's share of `position_size` for an entry signalled at `signal_bar`."""
    return entry_size[signal_bar] if entry_size.size > 0 else 1.0


@njit(cache=True, inline="always")
def _atr_at(atr: FloatArray, known_at: int, uses_atr: bool) -> float:
    """The ATR known at a fill: that of bar `known_at`; NaN without ATR stops or before one."""
    return atr[known_at] if uses_atr and known_at >= 0 else np.nan


@njit(cache=True, inline="always")
def _first_funding_from(funding_bars: npt.NDArray[np.int64], t: int, k: int) -> tuple[int, int]:
    """(k moved on to the first of `funding_bars` at or after bar t, that bar: the largest
    int when none is left); t only grows."""
    while k < funding_bars.size and funding_bars[k] < t:
        k += 1
    return k, funding_bars[k] if k < funding_bars.size else np.iinfo(np.int64).max


@njit(cache=True, inline="always")
def _held_quiet_until(
    t: int,
    side: int,
    liquidation_level: float,
    funding_at: int,
    liquidates: bool,
    bars: KernelBars,
) -> int:
    """The bar before which the bars from t on meet nothing of the market for the position
    held into bar t (t: bar t may): no funding bar (the first from t on is `funding_at`) and,
    within bar t's block (see `MarketEvents`), no liquidation. Bars are quiet only without
    stops, so `stop_hit` there can find nothing but a liquidation: at the mark's open or,
    inside the bar, at the mark's low (a long's; a short's high). A block whose lowest
    (highest) mark does not reach the level is quiet whole; in another, its bars are checked
    in turn."""
    if not liquidates:
        return funding_at
    mark_open = bars.mark_open
    mark_inside = bars.mark_low if side > 0 else bars.mark_high
    block_offset = bars.mark_block_offset
    block = (t + block_offset) // MARK_BLOCK
    block_end = min((block + 1) * MARK_BLOCK - block_offset, funding_at, mark_open.size)
    if block < bars.mark_lowest.size:
        reach = bars.mark_lowest[block] if side > 0 else bars.mark_highest[block]
        if not liquidated(side, reach, liquidation_level):
            return block_end
    until = t
    while (
        until < block_end
        and not liquidated(side, mark_open[until], liquidation_level)
        and not liquidated(side, mark_inside[until], liquidation_level)
    ):
        until += 1
    return until


@njit(cache=True)
def simulate_kernel(bars: KernelBars, detail: KernelDetail, settings: KernelSettings) -> Kernel:
    """Fills, trades and equity of `bars.target` under `settings`; ATR stops use the ATR
    known at the fill (the previous bar's for an open or limit fill, the bar's own for a
    close fill)."""
    s = settings
    bar_open = bars.open
    bar_high = bars.high
    bar_low = bars.low
    bar_close = bars.close
    target = bars.target
    funding_bars = bars.funding_bars
    inverse = s.inverse
    n = bar_close.size
    equity = np.empty(n - s.trade_from)
    book = trade_book(s.max_trades)
    books_funding = bars.funding_at_open.size > 0
    uses_detail = detail.first.size > 0
    uses_atr = not (np.isnan(s.stop_loss_atr) and np.isnan(s.take_profit_atr))
    uses_atr = uses_atr or not np.isnan(s.trailing_stop_atr)
    limits = s.limit_entries
    # Without detail, a rate other than 0 booked at some bar, limit orders, stops or
    # liquidation nothing can happen inside a bar: the candle walk below is skipped (a
    # position is only marked at the close).
    has_stops = not (np.isnan(s.stop_loss) and np.isnan(s.take_profit))
    has_stops = has_stops or uses_atr or not np.isnan(s.trailing_stop)
    funds_bars = bars.funding_bars.size > 0
    walks_candles = uses_detail or funds_bars or limits or has_stops or s.liquidates
    # Nor then, with no limit order working, at its close unless the target changes or a time
    # stop comes due: such a bar is only marked (the loop's first lines), as most bars are.
    # A perpetual's position makes a bar quiet only without a funding time or liquidation in
    # it, known for most bars from the funding bars and the mark's reach of their block.
    marks_quiet_bars = not (uses_detail or has_stops)
    # The trail's best price matters only with a trailing stop: without one the bars' highs
    # and lows are not read at all (at a change of target they are rarely in the cache).
    trails = not (np.isnan(s.trailing_stop) and np.isnan(s.trailing_stop_atr))
    checks_held_bars = funds_bars or s.liquidates

    cash = s.initial_capital
    side = 0  # current position: +1, -1 or 0
    qty = 0.0
    trades = 0  # index of the next trade; the open one is trades - 1
    stop_loss_level = np.nan
    take_profit_level = np.nan
    trailing_distance = np.nan  # a fixed ATR distance; a fractional trail uses the fraction
    liquidation_level = np.nan
    bankruptcy_level = np.nan
    best = np.nan  # highest (long) or lowest (short) price since the fill, for the trail
    without_atr = 0
    # Stops are checked from bar `check_bar`, within it from candle `check_candle` (a detail
    # candle's index; -1: the whole bar).
    check_bar = n
    check_candle = -1
    prev_target = 0
    pending = 0  # a change of target at the last close, to fill at this open
    has_pending = False
    bars_held = 0
    closes_held = 0  # bar closes since the open position's fill, for the time stop
    time_exit_due = False
    limit_side = 0  # a working limit order: its side, price and bars [limit_from, limit_until]
    limit_price = np.nan
    limit_from = 0
    limit_until = -1
    unfilled = 0
    # The first of funding_bars at or after the bars so far, and its index.
    next_funding = -1
    funding_index = 0
    # The bars of trade `held_quiet_of` from the last one checked up to this one are quiet.
    held_quiet_until = 0
    held_quiet_of = -1

    t = s.trade_from
    while t < n:
        if marks_quiet_bars and limit_side == 0 and not (has_pending or time_exit_due):
            # The bars up to the next change of target (or a time stop's bar) are only marked.
            quiet_until = n
            if side != 0 and s.max_bars_in_trade > 0:
                quiet_until = min(n, t + s.max_bars_in_trade - 1 - closes_held)
            quiet_from = t
            while True:
                # A held position's stretch of bars that meet nothing of the market.
                stretch_end = quiet_until
                if side != 0 and checks_held_bars:
                    if t < check_bar:
                        break
                    if t >= held_quiet_until or held_quiet_of != trades:
                        if next_funding < t:
                            funding_index, next_funding = _first_funding_from(
                                funding_bars, t, funding_index
                            )
                        held_quiet_until = _held_quiet_until(
                            t, side, liquidation_level, next_funding, s.liquidates, bars
                        )
                        held_quiet_of = trades
                    stretch_end = min(stretch_end, held_quiet_until)
                stretch_from = t
                while t < stretch_end and target[t] == prev_target:
                    # What the fill after a change of target reads: the open, and with a
                    # walk of its candle (a limit order's; a perpetual's near its
                    # liquidation) the candle and its mark, a cache line (8 bars) at a time.
                    prefetch(bar_open, t + _OPENS_AHEAD)
                    if (limits or s.liquidates) and t % 8 == 0:
                        prefetch(bar_high, t + _OPENS_AHEAD)
                        prefetch(bar_low, t + _OPENS_AHEAD)
                        prefetch(bars.mark_open, t + _OPENS_AHEAD)
                        prefetch(bars.mark_high, t + _OPENS_AHEAD)
                        prefetch(bars.mark_low, t + _OPENS_AHEAD)
                    equity[t - s.trade_from] = cash + side * qty * value(inverse, bar_close[t])
                    t += 1
                if t < stretch_end or t in (quiet_until, stretch_from):
                    break
            if side != 0:
                closes_held += t - quiet_from
                bars_held += t - quiet_from
            if t == n:
                break
        has_detail = uses_detail and detail.stop[t] > detail.first[t]
        first = detail.first[t] if has_detail else 0
        stop = detail.stop[t] if has_detail else 1
        # The bar's funding columns are read only at a funding bar (elsewhere they are 0, and
        # at a change of target rarely in the cache).
        if next_funding < t:
            funding_index, next_funding = _first_funding_from(funding_bars, t, funding_index)
        funds_bar = next_funding == t
        # Funding at the bar's open time is paid by the position coming into the bar.
        if side != 0 and (funds_bar or (has_detail and books_funding)):
            rate = detail.funding_at_open[first] if has_detail else bars.funding_at_open[t]
            if rate != 0.0:
                mark = detail.mark_open[first] if has_detail else bars.mark_open[t]
                cash -= pay_funding(book, trades - 1, side, qty, rate, mark, inverse)

        # The open: a time stop that came due at the last close, then its change of target.
        if time_exit_due:
            time_exit_due = False
            if side != 0:
                cash += close_trade(
                    book, trades - 1, side, qty, bar_open[t], EXIT_TIME_STOP, t, AT_OPEN, -1, s
                )
                side = 0
        if has_pending:
            has_pending = False
            if side != 0 and side != pending:
                cash += close_trade(
                    book, trades - 1, side, qty, bar_open[t], EXIT_SIGNAL, t, AT_OPEN, -1, s
                )
                side = 0
            # A bankrupt account (possible after a losing short) opens nothing.
            if not limits and pending != 0 and side == 0 and cash > 0.0:
                entry = _enter(
                    book,
                    trades,
                    pending,
                    bar_open[t],
                    t,
                    AT_OPEN,
                    -1,
                    _atr_at(bars.atr, t - 1, uses_atr),
                    cash,
                    s.fee_rate,
                    _size_at(bars.entry_size, t - 1),
                    uses_atr,
                    s,
                )
                cash, qty, stop_loss_level, take_profit_level, trailing_distance = entry[:5]
                liquidation_level, bankruptcy_level, best, missed = entry[5:]
                without_atr += missed
                side = pending
                trades += 1
                closes_held = 0
                check_bar = t  # filled at an open, the rest of this bar can hit a stop
                check_candle = -1

        # Inside the bar, candle by candle: its detail candles, or the bar itself. Flat with no
        # working order, nothing can happen inside a bar: it is skipped. So it is for a
        # position without stops, detail or a working order, in a bar that books no funding
        # and where the mark does not reach its liquidation (as a quiet bar).
        if not walks_candles or (side == 0 and (limit_side == 0 or t < limit_from)):
            stop = first
        elif side != 0 and marks_quiet_bars and limit_side == 0:
            if t >= held_quiet_until or held_quiet_of != trades:
                held_quiet_until = _held_quiet_until(
                    t, side, liquidation_level, next_funding, s.liquidates, bars
                )
                held_quiet_of = trades
            if held_quiet_until > t:
                stop = first
        for c in range(first, stop):
            located = c if has_detail else -1  # where a fill inside the bar is
            if has_detail:
                c_open, c_high, c_low = detail.open[c], detail.high[c], detail.low[c]
                m_open, m_high, m_low = detail.mark_open[c], detail.mark_high[c], detail.mark_low[c]
                at_open_rate = detail.funding_at_open[c] if books_funding and c > first else 0.0
                inside_rate = detail.funding_inside[c] if books_funding else 0.0
            else:
                c_open, c_high, c_low = bar_open[t], bar_high[t], bar_low[t]
                m_open, m_high, m_low = bars.mark_open[t], bars.mark_high[t], bars.mark_low[t]
                at_open_rate = 0.0
                inside_rate = bars.funding_inside[t] if funds_bar else 0.0
            if side != 0 and at_open_rate != 0.0:
                cash -= pay_funding(book, trades - 1, side, qty, at_open_rate, m_open, inverse)
            # A working limit order: at the candle's open when that is already better.
            limit_at_open = False
            limit_inside = False
            if limit_side != 0 and side == 0 and t >= limit_from and cash > 0.0:
                if limit_side * (limit_price - c_open) >= 0.0:
                    limit_at_open = True
                elif limit_side * (limit_price - (c_low if limit_side > 0 else c_high)) >= 0.0:
                    limit_inside = True
            if limit_at_open:
                entry = _enter(
                    book,
                    trades,
                    limit_side,
                    c_open,
                    t,
                    AT_OPEN,
                    located,
                    _atr_at(bars.atr, t - 1, uses_atr),
                    cash,
                    s.maker_fee_rate,
                    _size_at(bars.entry_size, limit_from - 1),
                    uses_atr,
                    s,
                )
                cash, qty, stop_loss_level, take_profit_level, trailing_distance = entry[:5]
                liquidation_level, bankruptcy_level, best, missed = entry[5:]
                without_atr += missed
                side = limit_side
                trades += 1
                closes_held = 0
                check_bar = t  # at an open: this candle on
                check_candle = c if has_detail else -1
                limit_side = 0
            # Stops: at the candle's open, then (after a funding time inside it) inside it.
            reason = -1
            price = np.nan
            at_open = False
            if side != 0 and (t > check_bar or (t == check_bar and c >= check_candle)):
                price, reason, at_open = stop_hit(
                    side,
                    stop_loss_level,
                    take_profit_level,
                    trailing_distance,
                    best,
                    liquidation_level,
                    bankruptcy_level,
                    s,
                    c_open,
                    c_high,
                    c_low,
                    m_open,
                    m_high,
                    m_low,
                )
                if reason >= 0 and at_open:
                    cash += close_trade(
                        book, trades - 1, side, qty, price, reason, t, AT_OPEN, located, s
                    )
                    side = 0
            if side != 0 and inside_rate != 0.0:
                cash -= pay_funding(book, trades - 1, side, qty, inside_rate, m_open, inverse)
            if reason >= 0 and not at_open:
                cash += close_trade(
                    book, trades - 1, side, qty, price, reason, t, INSIDE, located, s
                )
                side = 0
            if limit_inside:
                entry = _enter(
                    book,
                    trades,
                    limit_side,
                    limit_price,
                    t,
                    INSIDE,
                    located,
                    _atr_at(bars.atr, t - 1, uses_atr),
                    cash,
                    s.maker_fee_rate,
                    _size_at(bars.entry_size, limit_from - 1),
                    uses_atr,
                    s,
                )
                cash, qty, stop_loss_level, take_profit_level, trailing_distance = entry[:5]
                liquidation_level, bankruptcy_level, best, missed = entry[5:]
                without_atr += missed
                side = limit_side
                trades += 1
                fill = best
                closes_held = 0
                limit_side = 0
                if has_detail:
                    check_bar = t  # from the next detail candle on
                    check_candle = c + 1
                else:
                    check_bar = t + 1
                    check_candle = -1
                    # The rest of the bar came after the fill: its low (a long; a short's
                    # high) against the stop loss, a trail from the fill and the liquidation.
                    price, reason, at_open = stop_hit(
                        side,
                        stop_loss_level,
                        np.nan,
                        trailing_distance,
                        best,
                        liquidation_level,
                        bankruptcy_level,
                        s,
                        fill,
                        fill if side > 0 else c_high,
                        c_low if side > 0 else fill,
                        np.nan,
                        m_high,
                        m_low,
                    )
                    if reason >= 0:
                        cash += close_trade(
                            book, trades - 1, side, qty, price, reason, t, INSIDE, -1, s
                        )
                        side = 0
            # The trail follows detail candles that ended after the fill.
            if (
                trails
                and has_detail
                and side != 0
                and (t > check_bar or (t == check_bar and c >= check_candle))
            ):
                best = ratchet(side, best, c_high, c_low)

        # The close.
        if side != 0:
            closes_held += 1
        if limit_side != 0 and t >= limit_until:
            limit_side = 0  # expired
            unfilled += 1
        if side != 0 and time_stop_due(closes_held, s):
            if s.fill_at_close:
                cash += close_trade(
                    book, trades - 1, side, qty, bar_close[t], EXIT_TIME_STOP, t, AT_CLOSE, -1, s
                )
                side = 0
            elif t + 1 < n:
                time_exit_due = True
        if target[t] != prev_target:
            prev_target = target[t]
            if limit_side != 0:
                limit_side = 0  # cancelled by the change of target
                unfilled += 1
            if not s.fill_at_close:
                # No change on the last bar is filled after the data ends.
                if t + 1 < n:
                    pending = prev_target
                    has_pending = True
            else:
                if side != 0 and side != prev_target:
                    cash += close_trade(
                        book, trades - 1, side, qty, bar_close[t], EXIT_SIGNAL, t, AT_CLOSE, -1, s
                    )
                    side = 0
                if not limits and prev_target != 0 and side == 0 and cash > 0.0:
                    entry = _enter(
                        book,
                        trades,
                        prev_target,
                        bar_close[t],
                        t,
                        AT_CLOSE,
                        -1,
                        _atr_at(bars.atr, t, uses_atr),
                        cash,
                        s.fee_rate,
                        _size_at(bars.entry_size, t),
                        uses_atr,
                        s,
                    )
                    cash, qty, stop_loss_level, take_profit_level, trailing_distance = entry[:5]
                    liquidation_level, bankruptcy_level, best, missed = entry[5:]
                    without_atr += missed
                    side = prev_target
                    trades += 1
                    closes_held = 0
                    check_bar = t + 1  # filled at a close, stops are checked from the next bar
                    check_candle = -1
            if limits and prev_target != 0 and side != prev_target and t + 1 < n:
                limit_side = prev_target
                offset = s.limit_offset
                limit_price = bar_close[t] * (1.0 - offset if limit_side > 0 else 1.0 + offset)
                limit_from = t + 1
                limit_until = t + s.limit_valid_bars

        equity[t - s.trade_from] = cash + side * qty * value(inverse, bar_close[t])
        if side != 0:
            bars_held += 1
            # The trail follows bars that ended after the fill: an open fill's own bar, not a
            # close fill's (with detail, it followed the detail candles).
            if trails and t >= check_bar and not has_detail:
                best = ratchet(side, best, bar_high[t], bar_low[t])
        t += 1

    if side != 0:
        mark_still_open(book, trades - 1, side, qty, bar_close[n - 1], inverse)

    columns = trade_columns(book, trades)
    return Kernel(
        equity,
        bars_held,
        columns.side,
        columns.entry_bar,
        columns.entry_price,
        columns.exit_bar,
        columns.exit_price,
        columns.qty,
        columns.pnl,
        columns.fees,
        columns.reason,
        columns.funding,
        without_atr,
        unfilled,
        columns.entry_at,
        columns.entry_candle,
        columns.exit_at,
        columns.exit_candle,
        columns.entry_equity,
    )


def trade_capacity(target: npt.NDArray[np.int8], trade_from: int) -> int:
    """An upper bound on trades: each one opens on a change of target."""
    window = target[trade_from:]
    if window.size == 0:
        return 0
    return int(np.count_nonzero(window[1:] != window[:-1])) + int(window[0] != 0)


def trade_returns(
    pnl: npt.NDArray[np.float64],
    qty: npt.NDArray[np.float64],
    entry_price: npt.NDArray[np.float64],
    inverse: bool,
) -> npt.NDArray[np.float64]:
    """Each trade's pnl over what it put in: quantity x entry (coins: quantity / entry)."""
    return pnl / (qty / entry_price) if inverse else pnl / (qty * entry_price)
