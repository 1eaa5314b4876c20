"""Trade details (mae, mfe, bars_held, equity_return) and the metrics on them, each checked
against a slow, obvious reading of docs/simulation.md ("Orders, sizing and intrabar fills")."""

from typing import Any

import numpy as np
import pytest

from domain.backtest import BacktestResult, run_backtest
from domain.execution.config import BacktestConfig
from domain.execution.settings import AtrMultiple, ExecutionSettings
from domain.market.candles import Candles
from domain.research.monte_carlo import resample_trades
from services.engine.backtests.in_pool import simulate
from services.engine.backtests.parsed_request import parse_backtest
from tests.support.candles import bars, run
from tests.support.market import random_walk

T0 = 1_704_067_200_000
WARMUP = 40
CASES: dict[str, dict[str, Any]] = {
    "plain": {},
    "long_short_close": {"direction": "long_short", "fill": "close"},
    "stops": {"direction": "long_short", "stop_loss": 0.01, "take_profit": 0.015},
    "stops_close": {"direction": "short_only", "fill": "close", "stop_loss": 0.008},
    "slipped_trail": {"direction": "long_short", "trailing_stop": 0.01, "slippage_bps": 7.0},
    "atr_stops": {"stop_loss": AtrMultiple(1.5), "take_profit": AtrMultiple(3.0)},
    "liquidated": {
        "direction": "long_short",
        "contract": "linear",
        "leverage": 40.0,
        "position_size": 0.5,
        "maintenance_margin_rate": 0.01,
    },
}
# The moment of a fill inside its bar: at the open, inside it (a stop), at the close.
AT_OPEN, INSIDE, AT_CLOSE = 0, 1, 2


def _candles() -> Candles:
    return random_walk(T0, 1_500, "60", seed=21)


def _result(case: str, candles: Candles) -> BacktestResult:
    execution = ExecutionSettings(fee_rate=0.0006, **CASES[case])
    config = BacktestConfig("sma_cross", {"fast": 4, "slow": 15}, "60", execution)
    return run_backtest(candles, config, trade_from=WARMUP)


def _slow_details(
    candles: Candles, result: BacktestResult, fill: str, slippage: float
) -> list[tuple[float, float, int]]:
    """(mae, mfe, bars_held) of each trade, from where its fills were in time."""
    n = len(candles)
    bar_of = {int(t): i for i, t in enumerate(candles.open_time)}
    t = result.trades
    out = []
    for k in range(len(t)):
        entry_bar = bar_of[int(t.entry_time[k])]
        entry = (entry_bar, AT_OPEN if fill == "next_open" else AT_CLOSE)
        reason = str(t.frame()["exit_reason"][k])
        if reason == "end":
            exit_ = (n - 1, AT_CLOSE)
        else:
            exit_bar = bar_of[int(t.exit_time[k])]
            if reason == "signal":
                exit_ = (exit_bar, AT_OPEN if fill == "next_open" else AT_CLOSE)
            else:
                exit_ = (exit_bar, INSIDE)
        # Every price the position lived through: whole bars strictly between the fills'
        # moments, the open of a bar it was in at that bar's open, a stop's level.
        seen = [float(t.entry_price[k])]
        for bar in range(entry[0], exit_[0] + 1):
            opened_before = (bar, AT_OPEN) >= entry and (bar, AT_OPEN) <= exit_
            whole = (bar, AT_OPEN) >= entry and (bar, AT_CLOSE) <= exit_
            if whole:
                seen += [candles.high[bar], candles.low[bar]]
            elif opened_before:
                seen.append(candles.open[bar])
        if exit_[1] == INSIDE:
            price = float(t.exit_price[k])
            if reason != "liquidation":  # undo the slippage of the exit fill
                price = price / (1 - slippage) if t.side[k] > 0 else price / (1 + slippage)
            seen.append(price)
        entry_price = float(t.entry_price[k])
        up = max(0.0, (max(seen) - entry_price) / entry_price)
        down = max(0.0, (entry_price - min(seen)) / entry_price)
        mae, mfe = (down, up) if t.side[k] > 0 else (up, down)
        closes = sum(1 for bar in range(n) if entry < (bar, AT_CLOSE) <= exit_)
        out.append((mae, mfe, closes))
    return out


@pytest.mark.parametrize("case", CASES)
def test_excursions_and_bars_held_equal_a_slow_walk_through_the_bars(case: str) -> None:
    candles = _candles()
    result = _result(case, candles)
    settings = CASES[case]
    slow = _slow_details(
        candles, result, settings.get("fill", "next_open"), settings.get("slippage_bps", 0) / 1e4
    )
    assert len(result.trades) > 20
    details = result.details
    np.testing.assert_allclose(details.mae, [s[0] for s in slow], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(details.mfe, [s[1] for s in slow], rtol=1e-12, atol=1e-15)
    assert details.bars_held.tolist() == [s[2] for s in slow]
    assert (details.mae >= 0).all() and (details.mfe >= 0).all()
    if settings.get("fill", "next_open") == "next_open":
        # Each bar that ended holding a position is one close held by exactly one trade.
        held = round(float(result.metrics["exposure"] or 0.0) * result.equity.size)
        assert int(details.bars_held.sum()) == held
    if case == "liquidated":
        assert "liquidation" in result.trades.exit_counts()


def test_a_hand_computed_long_stopped_inside_a_bar() -> None:
    # Long at bar 1's open (100); bar 2 dips to 98.5 and rallies to 104; bar 3 opens at 99
    # and its low 96 reaches the 2% stop at 98: the position saw 98, never 96.
    candles = bars(
        [
            (100, 101, 99, 100),
            (100, 103, 99.5, 101),
            (101, 104, 98.5, 100),
            (99, 99.5, 96, 97),
            (97, 98, 96, 97),
        ]
    )
    result = run(candles, [1, 1, 1, 1, 1], stop_loss=0.02)
    assert result.trades.frame()["exit_reason"].to_list() == ["stop_loss"]
    details = result.details
    assert details.mae[0] == pytest.approx(0.02)
    assert details.mfe[0] == pytest.approx(0.04)  # bar 2's high 104
    assert details.bars_held.tolist() == [2]  # the closes of bars 1 and 2
    assert details.entry_order.tolist() == [0]  # market


def test_a_close_fill_lives_through_none_of_its_entry_bar() -> None:
    candles = bars([(100, 150, 50, 100), (100, 102, 99, 101), (101, 103, 100, 102)])
    result = run(candles, [1, 1, 0], fill="close")
    details = result.details
    assert details.mae[0] == pytest.approx(0.01)  # bar 1's low 99, not bar 0's 50
    assert details.mfe[0] == pytest.approx(0.03)  # bar 2's high 103: exit at its close
    assert details.bars_held.tolist() == [2]


@pytest.mark.parametrize("case", CASES)
def test_equity_returns_compound_to_the_final_equity(case: str) -> None:
    candles = _candles()
    result = _result(case, candles)
    t, details = result.trades, result.details
    growth = float(np.prod(1.0 + details.equity_return))
    last = result.equity[-1]
    # Between trades the account is flat, so chaining each trade's return on the equity
    # before it is the whole curve (a trade still open counts its unrealized pnl).
    assert 10_000 * growth == pytest.approx(last, rel=1e-9)
    entry_equity = 10_000 * np.concatenate([[1.0], np.cumprod(1 + details.equity_return)[:-1]])
    np.testing.assert_allclose(details.equity_return, t.pnl / entry_equity, rtol=1e-9)


@pytest.mark.parametrize("case", CASES)
def test_side_metrics_and_the_benchmark_equal_loops_over_the_trades(case: str) -> None:
    candles = _candles()
    result = _result(case, candles)
    t, m = result.trades, result.metrics
    closed = [k for k in range(len(t)) if t.exit_time[k] >= 0]
    longs = [k for k in closed if t.side[k] > 0]
    shorts = [k for k in closed if t.side[k] < 0]
    assert m["long_trades"] == len(longs) and m["short_trades"] == len(shorts)
    assert m["long_pnl"] == pytest.approx(sum(float(t.pnl[k]) for k in longs), abs=1e-9)
    assert m["short_pnl"] == pytest.approx(sum(float(t.pnl[k]) for k in shorts), abs=1e-9)
    held = [int(result.details.bars_held[k]) for k in closed]
    assert m["avg_bars_held"] == pytest.approx(sum(held) / len(held))
    assert m["benchmark_return"] == pytest.approx(
        candles.close[-1] / candles.open[WARMUP] - 1, rel=1e-12
    )


def test_no_closed_trade_has_zero_counts_and_no_average() -> None:
    result = run(bars([(100, 101, 99, 100)] * 3), [0, 0, 0])
    m = result.metrics
    assert (m["long_trades"], m["short_trades"], m["long_pnl"], m["short_pnl"]) == (0, 0, 0, 0)
    assert m["avg_bars_held"] is None and m["benchmark_return"] == 0.0


def test_monte_carlo_resamples_returns_on_equity_so_leverage_counts() -> None:
    """Issue 20: a 10x run at half size got the 1x full-size run's percentiles."""
    candles = _candles()
    request = {
        "category": "linear",
        "symbol": "BTCUSDT",
        "interval": "60",
        "start": int(candles.open_time[WARMUP]),
        "end": int(candles.open_time[-1]),
        "strategy": {"name": "sma_cross", "params": {"fast": 4, "slow": 15}},
        "funding": False,
        "monte_carlo": {"runs": 500, "seed": 3},
    }
    levered = simulate(
        candles, parse_backtest({**request, "leverage": 10, "position_size": 0.5})[1], WARMUP
    )
    plain = simulate(candles, parse_backtest(request)[1], WARMUP)
    assert levered.monte_carlo is not None and plain.monte_carlo is not None
    assert levered.monte_carlo["final_equity"] != plain.monte_carlo["final_equity"]
    closed = levered.trades.exit_time >= 0
    returns_on_equity = levered.trades.equity_return[closed]
    expected = resample_trades(returns_on_equity, 10_000.0, 500, 3).as_json()
    assert levered.monte_carlo == expected
    # At 10x and half size a trade moves the account about five times its price return.
    per_notional = levered.trades.returns[closed]
    ratio = np.median(returns_on_equity / per_notional)
    assert 4.5 < ratio < 5.0
