"""A slow, obvious portfolio simulation written from docs/simulation.md's "Portfolios" text,
to check the compiled loop (domain/execution/portfolio.py) against.

Plain Python over dicts: one account, linear or spot contracts, fills at the next open or at
the close, fractional stop loss and take profit, no funding. Each symbol's targets, ranks and
sizes come in per bar of its own candles (already cut to the traded range).
"""

import math
from dataclasses import dataclass, field


@dataclass
class Sym:
    name: str
    times: list[int]
    open: list[float]
    high: list[float]
    low: list[float]
    close: list[float]
    target: list[int]
    rank: list[float]  # NaN: missing


@dataclass
class Setup:
    initial_capital: float = 10_000.0
    fee_rate: float = 0.001
    slippage: float = 0.0
    position_size: float = 1.0
    leverage: float = 1.0
    fill_at_close: bool = False
    stop_loss: float | None = None
    take_profit: float | None = None
    max_positions: int = 1
    rebalance: set[int] | None = None  # union bar indices of rebalance times; None: slots


@dataclass
class Position:
    symbol: int
    side: int
    qty: float
    entry: float  # fill price
    fees: float
    entry_time: int
    entry_equity: float
    sl: float | None
    tp: float | None


@dataclass
class Trade:
    symbol: str
    side: int
    entry_time: int
    entry_price: float
    exit_time: int | None
    exit_price: float
    qty: float
    pnl: float
    fees: float
    reason: str
    entry_equity: float


@dataclass
class Outcome:
    equity: list[float]
    trades: list[Trade] = field(default_factory=list)
    skipped: int = 0


def simulate(symbols: list[Sym], setup: Setup) -> Outcome:
    union = sorted({t for s in symbols for t in s.times})
    at = [{t: i for i, t in enumerate(s.times)} for s in symbols]
    cash = setup.initial_capital
    positions: dict[int, Position] = {}
    last_close: dict[int, float] = {}
    previous: dict[int, int] = {k: 0 for k in range(len(symbols))}
    waiting: dict[int, int] = {}  # slots: symbol -> side it waits to enter
    exit_next: set[int] = set()
    out = Outcome([])
    slip = setup.slippage

    def close(k: int, price: float, time: int, reason: str) -> None:
        nonlocal cash
        p = positions.pop(k)
        fill = price * (1 - slip) if p.side > 0 else price * (1 + slip)
        fee = setup.fee_rate * p.qty * fill
        cash += p.side * p.qty * fill - fee
        fees = p.fees + fee
        pnl = p.side * p.qty * (fill - p.entry) - fees
        out.trades.append(
            Trade(symbols[k].name, p.side, p.entry_time, p.entry, time, fill, p.qty, pnl,
                  fees, reason, p.entry_equity)
        )  # fmt: skip

    def account() -> float:
        return cash + sum(p.side * p.qty * last_close[k] for k, p in positions.items())

    def free_cash() -> float:
        # cash not held as margin: the wallet less each position's margin
        held = cash
        for p in positions.values():
            held += p.side * p.qty * p.entry - p.qty * p.entry / setup.leverage
        return held

    def enter(k: int, side: int, price: float, time: int, share: float, equity: float) -> None:
        nonlocal cash
        free = free_cash()
        if equity <= 0 or free <= 0:
            return
        fill = price * (1 + slip) if side > 0 else price * (1 - slip)
        money = min(equity * setup.position_size * share, free)
        qty = money / (fill * (1 / setup.leverage + setup.fee_rate))
        fee = setup.fee_rate * qty * fill
        cash -= side * qty * fill + fee
        sl = None if setup.stop_loss is None else fill * (1 - side * setup.stop_loss)
        tp = None if setup.take_profit is None else fill * (1 + side * setup.take_profit)
        positions[k] = Position(k, side, qty, fill, fee, time, equity, sl, tp)

    def stop_hit(k: int, i: int) -> tuple[float, str, bool] | None:
        p = positions[k]
        s = symbols[k]
        o, h, lo = s.open[i], s.high[i], s.low[i]
        if p.side > 0:
            if p.sl is not None and o <= p.sl:
                return o, "stop_loss", True
            if p.tp is not None and o >= p.tp:
                return o, "take_profit", True
            if p.sl is not None and lo <= p.sl:
                return p.sl, "stop_loss", False
            if p.tp is not None and h >= p.tp:
                return p.tp, "take_profit", False
        else:
            if p.sl is not None and o >= p.sl:
                return o, "stop_loss", True
            if p.tp is not None and o <= p.tp:
                return o, "take_profit", True
            if p.sl is not None and h >= p.sl:
                return p.sl, "stop_loss", False
            if p.tp is not None and lo <= p.tp:
                return p.tp, "take_profit", False
        return None

    def entries(u: int, here: list[tuple[int, int]], back: int, at_close: bool) -> None:
        time = union[u]
        price_of = {k: (symbols[k].close[i] if at_close else symbols[k].open[i]) for k, i in here}
        if setup.rebalance is not None:
            if u not in setup.rebalance:
                return
            ok = [(k, i - back) for k, i in here if i - back >= 0]
            ok = [(k, j) for k, j in ok if not math.isnan(symbols[k].rank[j])]
            longs = sorted(
                (k for k, j in ok if symbols[k].target[j] == 1),
                key=lambda k: (-symbols[k].rank[dict(ok)[k]], k),
            )[: setup.max_positions]
            shorts = sorted(
                (k for k, j in ok if symbols[k].target[j] == -1),
                key=lambda k: (symbols[k].rank[dict(ok)[k]], k),
            )[: setup.max_positions]
            chosen = longs + shorts
            for k, _ in here:
                if k in positions and k not in chosen:
                    close(k, price_of[k], time, "rebalance")
            equity = account()
            for k in chosen:
                if k not in positions:
                    j = dict(ok)[k]
                    enter(k, symbols[k].target[j], price_of[k], time, 1 / len(chosen), equity)
            return
        wanting = [(k, i) for k, i in here if k not in positions and waiting.get(k, 0) != 0]

        def key(item: tuple[int, int]) -> tuple[int, float, int]:
            k, i = item
            r = symbols[k].rank[i - back]
            return (1, 0.0, k) if math.isnan(r) else (0, -r, k)

        equity = account()
        for k, _ in sorted(wanting, key=key):
            if len(positions) >= setup.max_positions:
                out.skipped += 1
                continue
            enter(k, waiting[k], price_of[k], time, 1 / setup.max_positions, equity)
            if k in positions:
                del waiting[k]

    for u, time in enumerate(union):
        here = [(k, at[k][time]) for k in range(len(symbols)) if time in at[k]]
        if not setup.fill_at_close:
            for k, i in here:
                if k in exit_next:
                    exit_next.discard(k)
                    if k in positions:
                        close(k, symbols[k].open[i], time, "signal")
                if k in positions:
                    hit = stop_hit(k, i)
                    if hit is not None and hit[2]:
                        close(k, hit[0], time, hit[1])
            entries(u, here, 1, False)
        for k, i in here:
            if k in positions:
                hit = stop_hit(k, i)
                if hit is not None:
                    close(k, hit[0], time, hit[1])
        for k, i in here:
            last_close[k] = symbols[k].close[i]
            target = symbols[k].target[i]
            if target != previous[k]:
                previous[k] = target
                waiting[k] = target
                p = positions.get(k)
                if p is not None and p.side != target:
                    if setup.fill_at_close:
                        close(k, symbols[k].close[i], time, "signal")
                    elif i + 1 < len(symbols[k].times):
                        exit_next.add(k)
        if setup.fill_at_close:
            entries(u, here, 0, True)
        out.equity.append(account())

    for k, p in list(positions.items()):
        out.trades.append(
            Trade(symbols[k].name, p.side, p.entry_time, p.entry, None, last_close[k], p.qty,
                  p.side * p.qty * (last_close[k] - p.entry) - p.fees, p.fees, "end",
                  p.entry_equity)
        )  # fmt: skip
    return out
