"""The simulation checked against vectorbt's Portfolio.from_signals on real market data.

How vectorbt is made to model docs/simulation.md:
- The targets come from our strategy; vectorbt gets them as signals on the bars where the
  target changes: long/short entries where it becomes +1/-1, exits where it becomes 0 from
  +1/-1. Reversals are a single opposite entry (vectorbt's default: reverse).
- `fill: next_open`: every signal is shifted one bar later and `price` is the open, so a
  change at bar t fills at bar t+1's open; a change on the last bar falls off the end, as
  docs/simulation.md says. `fill: close`: unshifted signals, `price` the close (vectorbt's default).
- Sizing: `size=np.inf` buys (or sells short) all the cash can pay for including the fee,
  cash / (price * (1 + fee)): our quantity at `position_size` 1. Shorts need
  `lock_cash=True` for vectorbt to bound an infinite short by the free cash. For
  `position_size` < 1 (long-only: vectorbt refuses percent sizes on reversals)
  `size_type="percent"` gives cash * p / (price * (1 + fee)), also ours.
- Stops (fill at close only; vectorbt checks stops from the bar after the signal, as our
  rules do for close fills): `stop_entry_price="fillprice"` makes the levels fractions
  of the slipped fill price, `stop_exit_price="stopmarket"` fills at the level (or the open
  past it) with slippage. vectorbt ignores a signal on the bar a stop fires; our rules
  act on it, which only differs when a stop and a reversal share a bar, so stops are
  compared long-only and short-only, where the coinciding change is an exit of nothing.
- Metrics: vectorbt's returns accessor with year_freq 365 days over the bar frequency gives
  our bars per year; its Sharpe uses ddof 1 and its Sortino our downside deviation.
"""

import warnings
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
import pytest
import vectorbt as vbt
from backtesting.test import EURUSD, GOOG

from domain.backtest import run_backtest
from domain.execution.config import BacktestConfig
from domain.execution.settings import ExecutionSettings
from domain.market.candles import Candles
from domain.targets.indicator_cache import IndicatorCache
from domain.targets.signals import target_positions
from tests.support.candles import frame_candles as _candles

RTOL = 1e-9
DATASETS = {"EURUSD": (EURUSD, "60", "1h"), "GOOG": (GOOG, "D", "1D")}


def _signals(targets: np.ndarray, shift: bool) -> dict[str, np.ndarray]:
    previous = np.concatenate([[0], targets[:-1]])
    changed = targets != previous
    signals = {
        "entries": changed & (targets == 1),
        "exits": changed & (previous == 1) & (targets == 0),
        "short_entries": changed & (targets == -1),
        "short_exits": changed & (previous == -1) & (targets == 0),
    }
    if shift:
        signals = {k: np.concatenate([[False], v[:-1]]) for k, v in signals.items()}
    return signals


def _vectorbt(candles: Candles, targets: np.ndarray, ex: ExecutionSettings, freq: str):
    index = pd.DatetimeIndex(candles.open_time.astype("datetime64[ms]"))

    def series(values: np.ndarray) -> pd.Series:
        return pd.Series(values, index)

    signals = _signals(targets, shift=ex.fill == "next_open")
    kwargs: dict[str, Any] = {
        "price": series(candles.open if ex.fill == "next_open" else candles.close),
        "fees": ex.fee_rate,
        "slippage": ex.slippage_bps / 10_000,
        "init_cash": ex.initial_capital,
        "freq": freq,
    }
    if ex.position_size == 1.0:
        kwargs |= {"size": np.inf, "lock_cash": True}
    else:
        kwargs |= {"size": ex.position_size, "size_type": "percent"}
    if ex.stop_loss is not None or ex.take_profit is not None:
        kwargs |= {
            "open": series(candles.open),
            "high": series(candles.high),
            "low": series(candles.low),
            "sl_stop": np.nan if ex.stop_loss is None else ex.stop_loss,
            "tp_stop": np.nan if ex.take_profit is None else ex.take_profit,
            "stop_entry_price": "fillprice",
            "stop_exit_price": "stopmarket",
        }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return vbt.Portfolio.from_signals(
            series(candles.close), **{k: series(v) for k, v in signals.items()}, **kwargs
        )


# dataset, strategy, params, execution
Case = tuple[str, str, dict[str, int], ExecutionSettings]
CASES: list[Case] = [
    # dataset, strategy, params, execution
    ("EURUSD", "sma_cross", {"fast": 10, "slow": 30}, ExecutionSettings(fee_rate=0.001)),
    (
        "EURUSD",
        "sma_cross",
        {"fast": 10, "slow": 30},
        ExecutionSettings(fee_rate=0.001, direction="long_short"),
    ),
    (
        "EURUSD",
        "ema_cross",
        {"fast": 12, "slow": 26},
        ExecutionSettings(fee_rate=0.00055, slippage_bps=2, direction="long_short"),
    ),
    (
        "EURUSD",
        "ema_cross",
        {"fast": 12, "slow": 26},
        ExecutionSettings(fee_rate=0.0002, direction="short_only", fill="close"),
    ),
    (
        "GOOG",
        "sma_cross",
        {"fast": 10, "slow": 50},
        ExecutionSettings(fee_rate=0.002, slippage_bps=5, direction="long_short"),
    ),
    (
        "GOOG",
        "ema_cross",
        {"fast": 5, "slow": 20},
        ExecutionSettings(fee_rate=0.001, position_size=0.6),
    ),
    (
        "GOOG",
        "sma_cross",
        {"fast": 5, "slow": 30},
        ExecutionSettings(fee_rate=0.001, direction="long_short", fill="close"),
    ),
    (
        "EURUSD",
        "sma_cross",
        {"fast": 10, "slow": 30},
        ExecutionSettings(
            fee_rate=0.001, slippage_bps=3, fill="close", stop_loss=0.004, take_profit=0.006
        ),
    ),
    (
        "GOOG",
        "ema_cross",
        {"fast": 10, "slow": 30},
        ExecutionSettings(
            fee_rate=0.001, direction="short_only", fill="close", stop_loss=0.05, take_profit=0.08
        ),
    ),
    (
        "GOOG",
        "sma_cross",
        {"fast": 10, "slow": 30},
        ExecutionSettings(fee_rate=0.001, fill="close", stop_loss=0.03, position_size=0.5),
    ),
]


def _case_id(case: Case) -> str:
    dataset, strategy, _, ex = case
    stops = "-stops" if ex.stop_loss is not None else ""
    return f"{dataset}-{strategy}-{ex.direction}-{ex.fill}-size{ex.position_size}{stops}"


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_matches_vectorbt(case: Case) -> None:
    dataset, strategy, params, ex = case
    frame, interval, freq = DATASETS[dataset]
    candles = _candles(frame)
    result = run_backtest(candles, BacktestConfig(strategy, params, interval, ex))
    targets = target_positions(IndicatorCache(candles), strategy, params, ex.direction)
    portfolio = _vectorbt(candles, targets, ex, freq)

    np.testing.assert_allclose(result.equity, portfolio.value().to_numpy(), rtol=RTOL)
    assert result.metrics["final_equity"] == pytest.approx(portfolio.final_value(), rel=RTOL)

    theirs = portfolio.trades.records
    ours = result.trades
    assert len(ours) == len(theirs) > 5
    bar_of = {int(t): i for i, t in enumerate(candles.open_time)}
    np.testing.assert_array_equal([bar_of[int(t)] for t in ours.entry_time], theirs["entry_idx"])
    closed = ours.exit_time >= 0
    np.testing.assert_array_equal(closed, theirs["status"].to_numpy() == 1)
    np.testing.assert_array_equal(
        [bar_of[int(t)] for t in ours.exit_time[closed]], theirs["exit_idx"][closed]
    )
    np.testing.assert_array_equal(ours.side == 1, theirs["direction"].to_numpy() == 0)
    np.testing.assert_allclose(ours.entry_price, theirs["entry_price"], rtol=RTOL)
    np.testing.assert_allclose(ours.exit_price, theirs["exit_price"], rtol=RTOL)
    np.testing.assert_allclose(ours.qty, theirs["size"], rtol=RTOL)
    np.testing.assert_allclose(ours.pnl, theirs["pnl"], rtol=RTOL, atol=1e-9)
    np.testing.assert_allclose(ours.returns, theirs["return"], rtol=RTOL, atol=1e-12)
    np.testing.assert_allclose(
        ours.fees, theirs["entry_fees"] + theirs["exit_fees"], rtol=RTOL, atol=1e-12
    )

    returns = portfolio.returns().vbt.returns(freq=freq, year_freq="365 days")
    metrics = result.metrics
    assert metrics["sharpe"] == pytest.approx(returns.sharpe_ratio(), rel=RTOL)
    assert metrics["sortino"] == pytest.approx(returns.sortino_ratio(), rel=RTOL)
    assert metrics["max_drawdown"] == pytest.approx(-portfolio.max_drawdown(), rel=RTOL)
    assert metrics["num_trades"] == len(theirs)
    assert metrics["fees_paid"] == pytest.approx(portfolio.orders.records["fees"].sum(), rel=RTOL)
