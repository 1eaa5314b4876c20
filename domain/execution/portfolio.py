"""Many symbols, one account: the compiled portfolio loop (docs/simulation.md, "Portfolios").

One pass over the union timeline of the symbols' bars. At each bar, for the symbols that have
a candle there: funding at the open, then the open's fills (exits first in the order of
`symbols`: time stops, signal exits, stops at the open; then entries: by slots, or by
rotation at a rebalance time), then stops, trailing stops and liquidations inside the bar,
then the close (time stops and changes of target; with `fill: close`, its exits and
entries), and the account marked at each symbol's latest close. Each position follows the
one-symbol rules through the helpers the one-symbol kernel uses (`positions.py`): the entry
fill with its quantity and levels (fed a stake of E x `position_size` / K cut to the free
cash instead of the whole equity), the stop check, the trail's ratchet, the time stop, the
exit fill and funding.

Rows: every symbol's traded candles, concatenated in the order of `symbols`; trades record
rows (a symbol's own bar is row - its first row) and equity is one value per union bar.
"""

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from domain.compiled_cache import njit
from domain.execution.fill_levels import value
from domain.execution.kernel_records import AT_CLOSE, AT_OPEN, INSIDE, FloatArray, KernelSettings
from domain.execution.positions import (
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
from domain.execution.settings import EXIT_REBALANCE, EXIT_SIGNAL, EXIT_TIME_STOP

IntArray = npt.NDArray[np.int64]


class PortfolioBars(NamedTuple):
    """Per row (every symbol's traded candles, symbol after symbol): prices, the strategy's
    target, the `rank` (NaN: missing) and the `size` share (empty: all) at that bar as a
    signal bar, the ATR known at its close (empty: no ATR stops), the mark price and funding
    as `KernelBars` has them (funding empty: none)."""

    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    target: npt.NDArray[np.int8]
    rank: FloatArray
    entry_size: FloatArray
    atr: FloatArray
    mark_open: FloatArray
    mark_high: FloatArray
    mark_low: FloatArray
    funding_at_open: FloatArray
    funding_inside: FloatArray
    symbol: IntArray  # per row: the symbol's index in `symbols`
    symbol_first: IntArray  # per symbol: its first row
    symbol_stop: IntArray  # per symbol: one past its last row


class UnionTimeline(NamedTuple):
    """Per union bar, the rows that have a candle there, [first, stop) of `row` (in the order
    of `symbols`), and whether it is a rebalance time (empty: slots, no rotation)."""

    first: IntArray
    stop: IntArray
    row: IntArray
    rebalance: npt.NDArray[np.bool_]


class PortfolioKernel(NamedTuple):
    """The loop's raw output; trade arrays cut to the number of trades, bars are rows."""

    equity: FloatArray  # per union bar, marked at each symbol's latest close
    bars_held: int  # union bars that ended holding any position
    symbol_bars_held: IntArray  # per symbol: union bars that ended holding it
    trade_symbol: IntArray
    side: npt.NDArray[np.int8]
    entry_bar: IntArray  # rows
    entry_price: FloatArray
    exit_bar: IntArray  # rows; -1 while still open
    exit_price: FloatArray
    qty: FloatArray
    pnl: FloatArray
    fees: FloatArray
    exit_reason: npt.NDArray[np.int8]
    funding: FloatArray
    entry_at: npt.NDArray[np.int8]
    exit_at: npt.NDArray[np.int8]
    entry_equity: FloatArray  # E at the entry's fill time
    skipped_entries: int  # (symbol, fill time) pairs that waited for a slot
    without_atr: int  # trades that asked for an ATR stop while no ATR was known at the fill


@njit(cache=True)
def _ranked(symbols: IntArray, keys: FloatArray, m: int, descending: bool) -> IntArray:
    """The first m of `symbols` ordered by key (descending or ascending), missing last, ties
    in the order of `symbols` (the symbols come in that order)."""
    order = np.arange(m)
    for i in range(1, m):  # insertion sort: stable, and m is at most 100
        j = i
        while j > 0 and _before(keys[order[j]], keys[order[j - 1]], descending):
            order[j], order[j - 1] = order[j - 1], order[j]
            j -= 1
    return symbols[order]


@njit(cache=True)
def _before(a: float, b: float, descending: bool) -> bool:
    if np.isnan(a):
        return False
    if np.isnan(b):
        return True
    return a > b if descending else a < b


@njit(cache=True)
def simulate_portfolio(
    bars: PortfolioBars,
    union: UnionTimeline,
    settings: KernelSettings,
    max_positions: int,
) -> PortfolioKernel:
    """Fills, trades and equity of every symbol's targets from one account."""
    s = settings
    inverse = s.inverse
    at_close = s.fill_at_close
    n = union.first.size
    symbols = bars.symbol_first.size
    rotating = union.rebalance.size > 0
    books_funding = bars.funding_at_open.size > 0
    sized = bars.entry_size.size > 0
    uses_atr = bars.atr.size > 0
    trails = not (np.isnan(s.trailing_stop) and np.isnan(s.trailing_stop_atr))
    # Without stops or liquidation no position exits between its signals: no stop checks.
    has_stops = trails or s.liquidates or uses_atr
    has_stops = has_stops or not (np.isnan(s.stop_loss) and np.isnan(s.take_profit))
    rows, row_symbol, union_first, union_stop = union.row, bars.symbol, union.first, union.stop
    bar_open, bar_high, bar_low, bar_close = bars.open, bars.high, bars.low, bars.close
    bar_target, bar_rank = bars.target, bars.rank
    book = trade_book(s.max_trades)
    trade_symbol = np.zeros(s.max_trades, np.int64)
    equity = np.empty(n)

    # Each symbol's position: its side, quantity, trade, levels (the one-symbol kernel's
    # scalars), the margin it locks, the trail's best price and the row it ratchets from (an
    # open fill's own row, the row after a close fill's), and the closes it was held through.
    side = np.zeros(symbols, np.int64)
    qty = np.zeros(symbols)
    trade = np.full(symbols, -1, np.int64)
    stop_loss = np.full(symbols, np.nan)
    take_profit = np.full(symbols, np.nan)
    trailing_distance = np.full(symbols, np.nan)
    liquidation = np.full(symbols, np.nan)
    bankruptcy = np.full(symbols, np.nan)
    locked = np.zeros(symbols)
    best = np.full(symbols, np.nan)
    trail_from = np.zeros(symbols, np.int64)
    closes_held = np.zeros(symbols, np.int64)
    prev_target = np.zeros(symbols, np.int64)
    want = np.zeros(symbols, np.int64)  # slots: the side a flat symbol waits to enter
    exit_due = np.zeros(symbols, np.bool_)  # a change of target to fill at the next open
    time_exit_due = np.zeros(symbols, np.bool_)  # a time stop to fill at the next open
    exits_due = 0  # flags up in those two: the open has exits to fill
    held = Held(side, stop_loss, take_profit, trailing_distance, best, liquidation, bankruptcy)
    last_close = np.full(symbols, np.nan)
    symbol_bars_held = np.zeros(symbols, np.int64)
    chosen = np.zeros(symbols, np.bool_)
    candidates = np.empty(symbols, np.int64)
    keys = np.empty(symbols)

    cash = s.initial_capital
    open_positions = 0
    trades = 0
    bars_held = 0
    skipped = 0
    without_atr = 0

    for u in range(n):
        lo = union_first[u]
        hi = union_stop[u]
        # Funding at the bar's open time, paid by the positions coming into it.
        if books_funding:
            for i in range(lo, hi):
                r = rows[i]
                k = row_symbol[r]
                rate = bars.funding_at_open[r]
                if side[k] != 0 and rate != 0.0:
                    mark = bars.mark_open[r]
                    cash -= pay_funding(book, trade[k], side[k], qty[k], rate, mark, inverse)

        # The open (fill: next_open): exits first, in the order of `symbols` (a time stop due,
        # a change of target, a stop the open is past), then entries.
        if not at_close and (has_stops or exits_due > 0):
            for i in range(lo, hi):
                r = rows[i]
                k = row_symbol[r]
                reason = -1
                if time_exit_due[k]:
                    time_exit_due[k] = False
                    exits_due -= 1
                    reason = EXIT_TIME_STOP
                if exit_due[k]:
                    exit_due[k] = False
                    exits_due -= 1
                    if reason < 0:
                        reason = EXIT_SIGNAL
                price = bar_open[r]
                if side[k] != 0 and reason < 0 and has_stops:
                    price, reason, at_open = _stop_in_row(held, k, bars, r, s)
                    if not at_open:
                        reason = -1
                if side[k] != 0 and reason >= 0:
                    cash += close_trade(
                        book, trade[k], side[k], qty[k], price, reason, r, AT_OPEN, -1, s
                    )
                    side[k] = 0
                    open_positions -= 1

        fills_now = (not at_close) and (not rotating or union.rebalance[u])
        for phase in range(2):
            if phase == 1:
                # Inside the bar: stops and liquidations by the one-symbol rules, funding
                # inside it between the open's fills and those inside.
                for i in range(lo, hi if has_stops or books_funding else lo):
                    r = rows[i]
                    k = row_symbol[r]
                    if side[k] == 0:
                        continue
                    reason = -1
                    if has_stops:
                        price, reason, at_open = _stop_in_row(held, k, bars, r, s)
                        if reason >= 0 and at_open:
                            cash += close_trade(
                                book, trade[k], side[k], qty[k], price, reason, r, AT_OPEN, -1, s
                            )
                            side[k] = 0
                            open_positions -= 1
                            continue
                    if books_funding and bars.funding_inside[r] != 0.0:
                        rate = bars.funding_inside[r]
                        mark = bars.mark_open[r]
                        cash -= pay_funding(book, trade[k], side[k], qty[k], rate, mark, inverse)
                    if reason >= 0:
                        cash += close_trade(
                            book, trade[k], side[k], qty[k], price, reason, r, INSIDE, -1, s
                        )
                        side[k] = 0
                        open_positions -= 1
                # The close: every symbol's latest close, a time stop, its change of target.
                for i in range(lo, hi):
                    r = rows[i]
                    k = row_symbol[r]
                    last_close[k] = bar_close[r]
                    # No exit on a symbol's last bar is filled after its data ends.
                    has_next = r + 1 < bars.symbol_stop[k]
                    reason = -1  # an exit at this close (fill: close)
                    if side[k] != 0:
                        closes_held[k] += 1
                        if time_stop_due(closes_held[k], s):
                            if at_close:
                                reason = EXIT_TIME_STOP
                            elif has_next and not time_exit_due[k]:
                                time_exit_due[k] = True
                                exits_due += 1
                    target = bar_target[r]
                    if target != prev_target[k]:
                        prev_target[k] = target
                        want[k] = target
                        reverses = side[k] != 0 and side[k] != target
                        if not at_close:
                            if has_next and reverses != exit_due[k]:
                                exit_due[k] = reverses
                                exits_due += 1 if reverses else -1
                        elif reverses and reason < 0:
                            reason = EXIT_SIGNAL
                    if reason >= 0:
                        price = bar_close[r]
                        cash += close_trade(
                            book, trade[k], side[k], qty[k], price, reason, r, AT_CLOSE, -1, s
                        )
                        side[k] = 0
                        open_positions -= 1
                fills_now = at_close and (not rotating or union.rebalance[u])
            if not fills_now:
                continue
            at = AT_CLOSE if at_close else AT_OPEN
            # Signal bars: the previous bar for an open fill, the bar itself at a close.
            back = 0 if at_close else 1
            if rotating:
                # Rotation: longs by rank descending, shorts by rank ascending, up to K each.
                longs, shorts = _choose(bars, union, lo, hi, back, max_positions, keys, candidates)
                chosen[:] = False
                for k in longs:
                    chosen[k] = True
                for k in shorts:
                    chosen[k] = True
                for i in range(lo, hi):
                    r = rows[i]
                    k = row_symbol[r]
                    if side[k] != 0 and not chosen[k]:
                        price = bar_close[r] if at_close else bar_open[r]
                        cash += close_trade(
                            book, trade[k], side[k], qty[k], price, EXIT_REBALANCE, r, at, -1, s
                        )
                        side[k] = 0
                        open_positions -= 1
                entering = np.concatenate((longs, shorts))
                share = 1.0 / max(1, entering.size)
            else:
                m = 0
                for i in range(lo, hi):
                    r = rows[i]
                    k = row_symbol[r]
                    if side[k] == 0 and want[k] != 0 and r - back >= bars.symbol_first[k]:
                        candidates[m] = k
                        keys[m] = bar_rank[r - back]
                        m += 1
                if m == 0:
                    continue
                if open_positions >= max_positions:
                    skipped += m  # every one of them waits for a slot
                    continue
                entering = _ranked(candidates, keys, m, True)
                share = 1.0 / max_positions
            if entering.size == 0:
                continue
            # E: the cash after this fill time's exits plus the open positions at their
            # symbols' latest closes; the free cash: what no position holds as margin.
            account = cash
            free = cash
            for k in range(symbols):
                if side[k] != 0:
                    account += side[k] * qty[k] * value(inverse, last_close[k])
                    free += locked[k]
            for k in entering:
                if side[k] != 0:
                    continue  # rotation keeps a chosen position as it is
                if not rotating and open_positions >= max_positions:
                    skipped += 1
                    continue
                if account <= 0.0 or free <= 0.0:
                    continue
                r = _row_at(union, bars, lo, hi, k)
                signal = r - back
                direction = bar_target[signal] if rotating else want[k]
                size = bars.entry_size[signal] if sized else 1.0
                money = account * (s.position_size * size * share)
                if money > free:
                    money = free
                price = bar_close[r] if at_close else bar_open[r]
                atr_at_fill = bars.atr[signal] if uses_atr else np.nan
                entry = open_trade(
                    book,
                    trades,
                    direction,
                    price,
                    r,
                    at,
                    -1,
                    atr_at_fill,
                    money,
                    account,
                    s.fee_rate,
                    s,
                )
                cash += entry[0]
                qty[k], stop_loss[k], take_profit[k], trailing_distance[k] = entry[1:5]
                liquidation[k], bankruptcy[k], best[k] = entry[5:]
                without_atr += missing_atr(uses_atr, atr_at_fill)
                locked[k] = _margin_locked(direction, qty[k], best[k], s)
                free += entry[0] + locked[k]
                side[k] = direction
                trade[k] = trades
                trade_symbol[trades] = k
                trades += 1
                open_positions += 1
                want[k] = 0
                closes_held[k] = 0
                # The trail follows the fill's own bar after an open fill, not a close fill.
                trail_from[k] = r + 1 if at_close else r

        marked = cash
        for k in range(symbols):
            if side[k] != 0:
                marked += side[k] * qty[k] * value(inverse, last_close[k])
                symbol_bars_held[k] += 1
        equity[u] = marked
        if open_positions > 0:
            bars_held += 1
        # The trail follows the bars that ended after the fill.
        for i in range(lo if trails else hi, hi):
            r = rows[i]
            k = row_symbol[r]
            if side[k] != 0 and r >= trail_from[k]:
                best[k] = ratchet(side[k], best[k], bar_high[r], bar_low[r])

    for k in range(symbols):
        if side[k] != 0:
            mark_still_open(book, trade[k], side[k], qty[k], last_close[k], inverse)

    columns = trade_columns(book, trades)
    return PortfolioKernel(
        equity,
        bars_held,
        symbol_bars_held,
        trade_symbol[:trades],
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
        columns.entry_at,
        columns.exit_at,
        columns.entry_equity,
        skipped,
        without_atr,
    )


class Held(NamedTuple):
    """The per-symbol arrays of the positions' side and levels a stop check reads."""

    side: IntArray
    stop_loss: FloatArray
    take_profit: FloatArray
    trailing_distance: FloatArray
    best: FloatArray
    liquidation: FloatArray
    bankruptcy: FloatArray


@njit(cache=True, inline="always")
def _stop_in_row(
    held: Held, k: int, bars: PortfolioBars, r: int, s: KernelSettings
) -> tuple[float, int, bool]:
    """`positions.stop_hit` of symbol k's position in its row r."""
    return stop_hit(
        held.side[k],
        held.stop_loss[k],
        held.take_profit[k],
        held.trailing_distance[k],
        held.best[k],
        held.liquidation[k],
        held.bankruptcy[k],
        s,
        bars.open[r],
        bars.high[r],
        bars.low[r],
        bars.mark_open[r],
        bars.mark_high[r],
        bars.mark_low[r],
    )


@njit(cache=True)
def _margin_locked(side: int, qty: float, fill: float, s: KernelSettings) -> float:
    """What a position's entry took from the free cash beyond its cost: its value less the
    margin it holds."""
    worth = side * qty * value(s.inverse, fill)
    return worth - abs(qty * value(s.inverse, fill)) / s.leverage


@njit(cache=True)
def _row_at(union: UnionTimeline, bars: PortfolioBars, lo: int, hi: int, k: int) -> int:
    """Symbol k's row at this union bar (it has a candle here)."""
    for i in range(lo, hi):
        if bars.symbol[union.row[i]] == k:
            return int(union.row[i])
    return -1


@njit(cache=True)
def _choose(
    bars: PortfolioBars,
    union: UnionTimeline,
    lo: int,
    hi: int,
    back: int,
    max_positions: int,
    keys: FloatArray,
    candidates: IntArray,
) -> tuple[IntArray, IntArray]:
    """A rebalance time's choice: up to K symbols with target +1 and the highest rank, up to
    K with target -1 and the lowest; symbols with a missing rank or no candle are not chosen."""
    picks = []
    for wanted, descending in ((1, True), (-1, False)):
        m = 0
        for i in range(lo, hi):
            r = union.row[i]
            signal = r - back
            if signal < bars.symbol_first[bars.symbol[r]]:
                continue
            if bars.target[signal] == wanted and not np.isnan(bars.rank[signal]):
                candidates[m] = bars.symbol[r]
                keys[m] = bars.rank[signal]
                m += 1
        picks.append(_ranked(candidates, keys, m, descending)[:max_positions].copy())
    return picks[0], picks[1]
