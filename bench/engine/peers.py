"""The peers the engine benchmark times beside ours, each checked to trade what we trade first.

- raptorbt (Rust, pinned in the `bench` extra): `run_single_backtest` on our entry and exit
  signals, filled at the next open with the same fee (in a grid, on its own SMAs' crosses);
- backtesting.py through `FractionalBacktest`, so a 40,000 coin can be bought in fractions
  (whole units would make it trade nothing, which is no comparison at all);
- a hand-written numba loop: SMAs, crosses, next-open fills, fees, equity and a Sharpe ratio in
  one pass, the floor a Python engine can hope to reach; and one on given targets (fills, fees,
  the equity curve), the floor of a simulation alone.

`Agreement` says whether a peer's trades match ours (count, entry bars, entry prices); a row
whose peer disagrees is reported as such rather than timed as if it did the same work.
"""

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from unittest import mock

import numpy as np
import numpy.typing as npt
import pandas as pd  # type: ignore[import-untyped]
from numba import njit

from domain.backtest import BacktestResult
from domain.market.candles import Candles

MINUTES_PER_YEAR = 525_600.0
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Agreement:
    trades: int
    ours: int
    same_entries: bool

    @property
    def agrees(self) -> bool:
        return self.trades == self.ours and self.same_entries

    def note(self) -> str:
        if self.agrees:
            return f"trades agree with ours ({self.ours:,})"
        return f"DISAGREES: {self.trades:,} trades against our {self.ours:,}"


def entry_exit_signals(
    targets: npt.NDArray[np.int8],
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Long-only entries and exits at the bar whose close decides them (filled next open)."""
    previous = np.concatenate([[0], targets[:-1]])
    return (targets == 1) & (previous != 1), (targets != 1) & (previous == 1)


def _entries_agree(
    ours: BacktestResult, entry_times_ms: npt.NDArray[np.int64], entry_prices: Any
) -> Agreement:
    n = len(ours.trades)
    same = len(entry_times_ms) == n and bool(
        np.array_equal(ours.trades.entry_time, entry_times_ms)
        and np.allclose(ours.trades.entry_price, entry_prices, rtol=1e-12)
    )
    return Agreement(len(entry_times_ms), n, same)


# --- raptorbt --------------------------------------------------------------------------------


def _raptorbt_backtest(
    candles: Candles, fee_rate: float, cash: float
) -> Callable[[BoolArray, BoolArray], Any]:
    """`run_single_backtest` on these candles, long-only entries and exits in, filled at the
    next open with our fee and cash."""
    import raptorbt

    config = raptorbt.BacktestConfig(
        initial_capital=cash, fees=fee_rate, slippage=0.0, fill_timing="next_bar_open"
    )
    nanoseconds = candles.open_time.astype(np.int64) * 1_000_000
    c = candles

    def backtest(entries: BoolArray, exits: BoolArray) -> Any:
        return raptorbt.run_single_backtest(
            nanoseconds, c.open, c.high, c.low, c.close, c.volume, entries, exits, 1, 1.0, "X",
            config,
        )  # fmt: skip

    return backtest


def raptorbt_run(
    candles: Candles, targets: npt.NDArray[np.int8], fee_rate: float, cash: float
) -> Callable[[], Any]:
    """One backtest on our targets' entries and exits."""
    entries, exits = entry_exit_signals(targets)
    backtest = _raptorbt_backtest(candles, fee_rate, cash)
    return lambda: backtest(entries, exits)


def raptorbt_sma_cross_run(
    candles: Candles, fast: int, slow: int, fee_rate: float, cash: float
) -> Callable[[], Any]:
    """One set of a grid as raptorbt runs it: its own SMAs, and their cross as the entries and
    exits."""
    import raptorbt

    backtest = _raptorbt_backtest(candles, fee_rate, cash)

    def run() -> Any:
        above = raptorbt.sma(candles.close, fast) > raptorbt.sma(candles.close, slow)
        return backtest(*entry_exit_signals(above.astype(np.int8)))

    return run


def raptorbt_agreement(result: Any, candles: Candles, ours: BacktestResult) -> Agreement:
    trades = result.trades()
    times = np.array([candles.open_time[t.entry_idx] for t in trades], np.int64)
    return _entries_agree(ours, times, [t.entry_price for t in trades])


# --- backtesting.py --------------------------------------------------------------------------


def backtesting_py_run(
    frame: pd.DataFrame, fast: int, slow: int, fee_rate: float, cash: float
) -> Callable[[], Any]:
    from backtesting import Strategy
    from backtesting.lib import FractionalBacktest, crossover

    def rolling_mean(values: Any, window: int) -> Any:
        return pd.Series(values).rolling(window).mean().to_numpy()

    class SmaCross(Strategy):  # type: ignore[misc]
        def init(self) -> None:
            self.fast = self.I(rolling_mean, self.data.Close, fast)
            self.slow = self.I(rolling_mean, self.data.Close, slow)

        def next(self) -> None:
            if crossover(self.fast, self.slow):
                self.buy()
            elif crossover(self.slow, self.fast):
                self.position.close()

    def run() -> Any:
        # Its progress bar would only add noise (and a little time) to the measurement.
        with (
            warnings.catch_warnings(),
            mock.patch("backtesting.backtesting._tqdm", lambda seq, **_: seq),
        ):
            warnings.simplefilter("ignore")
            backtest = FractionalBacktest(
                frame, SmaCross, cash=cash, commission=fee_rate, finalize_trades=True
            )
            return backtest.run()

    return run


def backtesting_py_agreement(stats: Any, ours: BacktestResult) -> Agreement:
    """backtesting.py sizes in whole fractional units (1e-8 coin) and keeps a little cash
    aside for the commission, so its entries are compared by time and price."""
    trades = stats["_trades"]
    times = trades["EntryTime"].to_numpy().astype("datetime64[ms]").astype(np.int64)
    n = len(ours.trades)
    k = min(len(times), n)
    same = len(times) == n and bool(
        np.array_equal(times[:k], ours.trades.entry_time[:k])
        and np.allclose(trades["EntryPrice"].to_numpy()[:k], ours.trades.entry_price[:k])
    )
    return Agreement(len(times), n, same)


# --- the hand-written floor ------------------------------------------------------------------


@njit(cache=True, inline="always")
def _fill_at_open(
    want: int, qty: float, cash: float, price: float, fee_rate: float
) -> tuple[float, float, int]:
    """Yesterday's decision filled at this open, all in: (qty, cash, 1 if it bought)."""
    if want == 1 and qty == 0.0:
        qty = cash / (price * (1.0 + fee_rate))
        cash -= qty * price * (1.0 + fee_rate)
        return qty, cash, 1
    if want == 0 and qty > 0.0:
        cash += qty * price * (1.0 - fee_rate)
        return 0.0, cash, 0
    return qty, cash, 0


@njit(cache=True)
def _hand_loop(
    open_: npt.NDArray[np.float64],
    close: npt.NDArray[np.float64],
    fast: int,
    slow: int,
    fee_rate: float,
    cash: float,
) -> tuple[float, float, int]:
    """sma_cross long-only, all in, next-open fills: final equity, Sharpe, trades."""
    n = close.size
    sum_fast = 0.0
    sum_slow = 0.0
    qty = 0.0
    want = 0
    trades = 0
    previous_equity = cash
    total = 0.0
    total_sq = 0.0
    for t in range(n):
        qty, cash, filled = _fill_at_open(want, qty, cash, open_[t], fee_rate)
        trades += filled
        sum_fast += close[t]
        sum_slow += close[t]
        if t >= fast:
            sum_fast -= close[t - fast]
        if t >= slow:
            sum_slow -= close[t - slow]
        if t >= slow - 1:
            want = 1 if sum_fast / fast > sum_slow / slow else 0
        equity = cash + qty * close[t]
        r = equity / previous_equity - 1.0
        total += r
        total_sq += r * r
        previous_equity = equity
    mean = total / n
    variance = (total_sq - n * mean * mean) / (n - 1)
    sharpe = mean / math.sqrt(variance) * math.sqrt(MINUTES_PER_YEAR) if variance > 0 else 0.0
    return previous_equity, sharpe, trades


def hand_loop_run(
    candles: Candles, fast: int, slow: int, fee_rate: float, cash: float
) -> Callable[[], tuple[float, float, int]]:
    def run() -> tuple[float, float, int]:
        return _hand_loop(candles.open, candles.close, fast, slow, fee_rate, cash)

    return run


@njit(cache=True)
def _hand_simulation(
    open_: npt.NDArray[np.float64],
    close: npt.NDArray[np.float64],
    targets: npt.NDArray[np.int8],
    fee_rate: float,
    cash: float,
) -> tuple[npt.NDArray[np.float64], int]:
    """Long-only targets filled at the next open, all in: the equity at each close, trades."""
    n = close.size
    equity = np.empty(n)
    qty = 0.0
    want = 0
    trades = 0
    for t in range(n):
        qty, cash, filled = _fill_at_open(want, qty, cash, open_[t], fee_rate)
        trades += filled
        want = 1 if targets[t] == 1 else 0
        equity[t] = cash + qty * close[t]
    return equity, trades


def hand_simulation_run(
    candles: Candles, targets: npt.NDArray[np.int8], fee_rate: float, cash: float
) -> Callable[[], tuple[npt.NDArray[np.float64], int]]:
    """The floor of a simulation on given targets (what an optimizer repeats per set)."""

    def run() -> tuple[npt.NDArray[np.float64], int]:
        return _hand_simulation(candles.open, candles.close, targets, fee_rate, cash)

    return run


def hand_simulation_agreement(
    result: tuple[npt.NDArray[np.float64], int], ours: BacktestResult
) -> Agreement:
    equity, trades = result
    return _final_equity_agrees(float(equity[-1]), trades, ours)


def hand_loop_agreement(result: tuple[float, float, int], ours: BacktestResult) -> Agreement:
    final, _, trades = result
    return _final_equity_agrees(final, trades, ours)


def _final_equity_agrees(final: float, trades: int, ours: BacktestResult) -> Agreement:
    same = math.isclose(final, float(ours.equity[-1]), rel_tol=1e-9)
    return Agreement(trades, len(ours.trades), same)
