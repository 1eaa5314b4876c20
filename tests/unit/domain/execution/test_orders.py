"""docs/simulation.md's orders, sizing and intrabar rules on small hand-computed cases (the
worked examples of the docs among them), and backtesting.py's own test cases where they
apply, re-expressed as our requests."""

from typing import Any

import numpy as np
import pytest
from backtesting import Backtest, Strategy
from backtesting.test import GOOG

from domain.backtest import BacktestResult, contiguous_prices, run_kernel, simulate_targets
from domain.execution.fill_detail import FillDetail, lay_out_detail
from domain.execution.kernel_records import AT_CLOSE, AT_OPEN, INSIDE
from domain.execution.settings import AtrMultiple, ExecutionSettings, LimitEntry
from domain.market.candles import Candles
from domain.market.perp_market import perp_market
from tests.support.candles import MINUTE, bars
from tests.support.candles import frame_candles as _candles

HOUR = 60 * MINUTE
DAY = 24 * HOUR


def run(candles: Candles, targets: list[int], **settings: Any) -> BacktestResult:
    execution = ExecutionSettings(**{"fee_rate": 0.0, "maker_fee_rate": 0.0, **settings})
    return simulate_targets(candles, np.array(targets, np.int8), execution, "1")


# Limit entries.


def test_a_limit_the_open_gaps_through_fills_at_the_open_with_the_maker_fee() -> None:
    # Signal at bar 0's close 100: a buy limit at 99 for bar 1. Bar 1 opens at 97.
    candles = bars([(100, 100, 100, 100), (97, 98, 96, 97.5), (97.5, 98, 97, 98)])
    result = run(
        candles,
        [1, 1, 1],
        entry_order=LimitEntry(offset=0.01, valid_bars=1),
        fee_rate=0.00055,
        maker_fee_rate=0.0002,
    )
    trade = result.trades.records()[0]
    assert trade["entry_time"] == MINUTE
    assert trade["entry_price"] == 97.0
    assert trade["qty"] == pytest.approx(10_000 / (97.0 * 1.0002), rel=1e-15)
    assert trade["fees"] == pytest.approx(0.0002 * trade["qty"] * 97.0, rel=1e-15)


def test_a_limit_fills_at_its_price_inside_the_bar_and_its_stop_checks_the_bar_low() -> None:
    # Limit 99; bar 1 opens at 100, trades down to 97.9: filled at 99, then the 1% stop
    # (98.01) is checked against that low, which came after the fill.
    candles = bars([(100, 100, 100, 100), (100, 100.5, 97.9, 98.5), (98.5, 99, 98, 98.8)])
    result = run(
        candles,
        [1, 1, 1],
        entry_order=LimitEntry(offset=0.01, valid_bars=1),
        stop_loss=0.01,
        take_profit=0.001,  # 99.099 < bar 1's high, but the take profit waits for bar 2
    )
    trade = result.trades.records()[0]
    assert trade["entry_price"] == 99.0
    assert trade["exit_reason"] == "stop_loss"
    assert trade["exit_time"] == MINUTE
    assert trade["exit_price"] == pytest.approx(99.0 * 0.99, rel=1e-15)


def test_a_limit_not_reached_expires_and_counts_as_unfilled() -> None:
    candles = bars([(100, 100, 100, 100)] + [(100, 101, 99.5, 100)] * 4)
    limit = LimitEntry(offset=0.01, valid_bars=2)
    result = run(candles, [1, 1, 1, 1, 1], entry_order=limit)
    assert len(result.trades) == 0
    assert result.metrics["unfilled_orders"] == 1
    # Bar 3 reaches 98.9 after the order expired: still flat, the target has not changed.
    late = bars([(100, 100, 100, 100), *[(100, 101, 99.5, 100)] * 2, (99, 99, 98.9, 99)])
    assert len(run(late, [1, 1, 1, 1], entry_order=limit).trades) == 0


def test_a_change_of_target_cancels_the_order_and_places_one_for_the_new_side() -> None:
    candles = bars([(100, 100, 100, 100), (100, 100.5, 99.5, 100), (100, 102, 99.5, 101)])
    limit = LimitEntry(offset=0.01, valid_bars=5)
    result = run(candles, [1, -1, -1], entry_order=limit, direction="long_short")
    # The buy at 99 is cancelled at bar 1's close; the sell at 101 fills in bar 2.
    assert result.metrics["unfilled_orders"] == 1
    trade = result.trades.records()[0]
    assert trade["side"] == "short"
    assert trade["entry_price"] == 101.0


# Time stops.


def test_a_time_stop_exits_at_the_next_open_after_that_many_closes() -> None:
    candles = bars([(100 + i, 101 + i, 99 + i, 100 + i) for i in range(6)])
    result = run(candles, [1] * 6, max_bars_in_trade=2)
    trade = result.trades.records()[0]
    assert (trade["entry_time"], trade["exit_time"]) == (MINUTE, 3 * MINUTE)
    assert trade["exit_reason"] == "time_stop"
    assert trade["exit_price"] == 103.0
    assert len(result.trades) == 1  # flat until the target changes


def test_a_time_stop_with_close_fills_exits_at_that_close() -> None:
    candles = bars([(100 + i, 101 + i, 99 + i, 100 + i) for i in range(6)])
    result = run(candles, [1, 1, 1, 0, 1, 1], max_bars_in_trade=2, fill="close")
    first, second = result.trades.records()
    assert (first["entry_time"], first["exit_time"]) == (0, 2 * MINUTE)
    assert first["exit_price"] == 102.0
    assert first["exit_reason"] == "time_stop"
    assert second["entry_time"] == 4 * MINUTE  # re-entered when the target changed again


# Risk sizing.


def test_risk_sizing_loses_the_risk_at_the_stop_and_is_capped() -> None:
    candles = bars([(100, 100, 100, 100), (100, 100, 100, 100), (100, 100, 90, 95)])
    result = run(candles, [1, 1, 1], stop_loss=0.02, risk=0.01)
    trade = result.trades.records()[0]
    assert trade["qty"] == pytest.approx(10_000 * 0.01 / 2.0, rel=1e-15)  # 50 units
    assert trade["pnl"] == pytest.approx(-100.0, rel=1e-12)
    capped = run(candles, [1, 1, 1], stop_loss=0.005, risk=0.01, position_size=0.5)
    assert capped.trades.qty[0] == pytest.approx(10_000 * 0.5 / 100, rel=1e-15)


# Intrabar truth from detail candles.


def _hourly_with_quarters(
    quarters: list[tuple[float, float, float, float]],
) -> tuple[Candles, Candles]:
    """Hourly bars aggregated from 15-minute candles (four per bar)."""
    detail = bars(quarters)
    detail = Candles(np.arange(len(quarters), dtype=np.int64) * 15 * MINUTE, *_prices(detail))
    hours = len(quarters) // 4
    rows = [quarters[4 * h : 4 * h + 4] for h in range(hours)]
    hourly = Candles(
        np.arange(hours, dtype=np.int64) * HOUR,
        np.array([r[0][0] for r in rows]),
        np.array([max(q[1] for q in r) for r in rows]),
        np.array([min(q[2] for q in r) for r in rows]),
        np.array([r[-1][3] for r in rows]),
        np.ones(hours),
        np.ones(hours),
    )
    return hourly, detail


def _prices(c: Candles) -> tuple[np.ndarray, ...]:
    return c.open, c.high, c.low, c.close, c.volume, c.turnover


def test_the_minutes_decide_a_bar_whose_range_holds_stop_and_target() -> None:
    flat = [(100.0, 100.0, 100.0, 100.0)] * 4
    # Hour 1 opens at 100, reaches 102.5 in its first quarter, 97 in its third.
    hour = [
        (100, 102.5, 99.5, 102),
        (102, 102.2, 100, 100.5),
        (100.5, 100.6, 97, 97.5),
        (97.5, 99, 97.2, 98),
    ]
    hourly, detail = _hourly_with_quarters([*flat, *hour, *flat])
    settings: dict[str, Any] = {"stop_loss": 0.02, "take_profit": 0.02}
    execution = ExecutionSettings(fee_rate=0.0, **settings)
    targets = np.array([1, 1, 1], np.int8)
    alone = simulate_targets(hourly, targets, execution, "60").trades.records()[0]
    assert (alone["exit_reason"], alone["exit_price"]) == ("stop_loss", 98.0)
    detailed = ExecutionSettings(fee_rate=0.0, fill_detail="15", **settings)
    result = simulate_targets(hourly, targets, detailed, "60", detail=FillDetail("15", detail))
    trade = result.trades.records()[0]
    assert (trade["exit_reason"], trade["exit_price"]) == ("take_profit", 102.0)
    assert result.warnings == ()


def test_a_trailing_stop_ratchets_inside_the_bar_with_detail() -> None:
    flat = [(100.0, 100.0, 100.0, 100.0)] * 4
    # Hour 1: up to 110 in its first quarter, down to 104 in its second: a 5% trail from
    # 110 is 104.5, hit inside the hour; on the bar alone its level stays 95.
    hour = [(100, 110, 100, 109), (109, 109, 104, 105), (105, 106, 104, 105), (105, 106, 104, 105)]
    hourly, detail = _hourly_with_quarters([*flat, *hour, *flat])
    targets = np.array([1, 1, 1], np.int8)
    alone = simulate_targets(
        hourly, targets, ExecutionSettings(fee_rate=0.0, trailing_stop=0.05), "60"
    )
    assert alone.trades.records()[0]["exit_reason"] == "trailing_stop"
    assert alone.trades.records()[0]["exit_time"] == 2 * HOUR  # from 110 at hour 2's open
    execution = ExecutionSettings(fee_rate=0.0, trailing_stop=0.05, fill_detail="15")
    result = simulate_targets(hourly, targets, execution, "60", detail=FillDetail("15", detail))
    trade = result.trades.records()[0]
    assert trade["exit_time"] == HOUR
    assert trade["exit_price"] == pytest.approx(110 * 0.95, rel=1e-15)


def test_a_bar_without_all_its_detail_falls_back_to_the_bar_and_is_counted() -> None:
    flat = [(100.0, 100.0, 100.0, 100.0)] * 4
    hour = [
        (100, 102.5, 99.5, 102),
        (102, 102.2, 100, 100.5),
        (100.5, 100.6, 97, 97.5),
        (97.5, 99, 97.2, 98),
    ]
    hourly, detail = _hourly_with_quarters([*flat, *hour, *flat])
    keep = np.ones(len(detail), np.bool_)
    keep[6] = False  # hour 1 loses its third quarter
    execution = ExecutionSettings(fee_rate=0.0, stop_loss=0.02, take_profit=0.02, fill_detail="15")
    result = simulate_targets(
        hourly,
        np.array([1, 1, 1], np.int8),
        execution,
        "60",
        detail=FillDetail("15", detail.select(keep)),
    )
    assert result.trades.records()[0]["exit_reason"] == "stop_loss"
    assert result.warnings == ("1 bar without 15-minute detail; checked on the bar alone",)


# Funding at its exact time.


def test_daily_bars_charge_the_days_fundings_to_the_position_entered_at_its_open() -> None:
    """A 10x long entered at day 1's 00:00 open pays day 1's 08:00 and 16:00 fundings and all
    three of day 2's; the rule of bars no longer than the funding interval (the position
    coming into the bar pays) would charge day 1's to the flat account before the fill."""
    days = bars([(100, 101, 99, 100), (100, 102, 99, 101), (101, 103, 100, 102)])
    days = Candles(np.arange(3, dtype=np.int64) * DAY, *_prices(days))
    times = np.array([d * DAY + h * HOUR for d in (1, 2) for h in (0, 8, 16)], np.int64)
    rates = np.full(times.size, 0.0001)
    market = perp_market(days, "D", days, times, rates)
    execution = ExecutionSettings(
        fee_rate=0.0, contract="linear", leverage=10.0, funding=True, position_size=0.5
    )
    result = simulate_targets(days, np.array([1, 1, 1], np.int8), execution, "D", market=market)
    trade = result.trades.records()[0]
    qty = 10_000 * 0.5 / (100 * 0.1)  # 500 at leverage 10
    # Day 1's two inside day 1 at its mark open 100; day 2's three at 101.
    expected = qty * 0.0001 * (2 * 100 + 3 * 101)
    assert trade["funding"] == pytest.approx(expected, rel=1e-12)
    old_rule = qty * 0.0001 * 3 * 101
    assert trade["funding"] != pytest.approx(old_rule)
    # With 4-hour detail, each funding's mark is the open of its own 4-hour candle, and a
    # stop located in day 2's 12:00-16:00 candle (filled at its end, 16:00) pays day 2's
    # 08:00 funding but not its 16:00 one.
    fours: list[tuple[float, float, float, float]] = [(100, 100, 100, 100)] * 6
    fours += [(100, 101, 99, 100.5), (100.5, 101, 99.5, 101), (101, 102, 100, 101.2)]
    fours += [(101.2, 101.5, 100.5, 101.5), (101.5, 102, 101, 101.2), (101.2, 101.5, 101, 101)]
    fours += [(101, 103, 101, 102), (102, 102.5, 101.5, 102), (102, 102, 101, 101.5)]
    fours += [(101.5, 101.5, 96, 97), (97, 98, 96.5, 97.5), (97.5, 97.8, 97, 97.5)]
    detail = Candles(np.arange(18, dtype=np.int64) * 4 * HOUR, *_prices(bars(fours)))
    days = Candles(
        days.open_time,
        days.open,
        np.array([100, 102, 103.0]),
        np.array([100, 99, 96.0]),
        np.array([100, 101, 97.5]),
        days.volume,
        days.turnover,
    )
    market = perp_market(days, "D", days, times, rates)
    stopped = ExecutionSettings(
        fee_rate=0.0,
        contract="linear",
        leverage=10.0,
        funding=True,
        position_size=0.5,
        stop_loss=0.03,
        fill_detail="240",
    )
    result = simulate_targets(
        days,
        np.array([1, 1, 1], np.int8),
        stopped,
        "D",
        market=market,
        detail=FillDetail("240", detail),
    )
    trade = result.trades.records()[0]
    assert trade["exit_reason"] == "stop_loss"
    assert trade["exit_price"] == pytest.approx(97.0)  # in day 2's 12:00-16:00 candle
    # Paid: day 1 08:00 (mark 101), 16:00 (101.5), day 2 00:00 (101), 08:00 (102).
    assert trade["funding"] == pytest.approx(qty * 0.0001 * (101 + 101.5 + 101 + 102), rel=1e-12)


# backtesting.py's own cases (backtesting/test/_test.py), as our requests.


def test_backtesting_py_trade_enter_hit_sl_on_same_day() -> None:
    # buy(sl=720) on 2012-10-17 fills at 2012-10-18's open (755.54) and stops at 720 that day.
    candles = _candles(GOOG)
    day = int(
        np.searchsorted(candles.open_time, np.datetime64("2012-10-17", "ms").astype(np.int64))
    )
    targets = np.zeros(len(candles), np.int8)
    targets[day:] = 1
    execution = ExecutionSettings(fee_rate=0.0, stop_loss=1 - 720 / 755.54)
    trade = simulate_targets(candles, targets, execution, "D", trade_from=day).trades.records()[0]
    assert trade["entry_price"] == 755.54
    assert trade["exit_time"] == candles.open_time[day + 1]
    assert trade["exit_price"] == pytest.approx(720.0, rel=1e-12)


def test_backtesting_py_sl_gapped_through_exits_at_the_open() -> None:
    # buy(sl=99.5) at bar 8 fills at bar 9's open 102.70; bar 10 opens at 99.19, below it.
    candles = _candles(GOOG.iloc[:20])
    targets = np.zeros(20, np.int8)
    targets[8:] = 1
    execution = ExecutionSettings(fee_rate=0.0, stop_loss=1 - 99.5 / 102.70)
    trade = simulate_targets(candles, targets, execution, "D").trades.records()[0]
    assert trade["exit_time"] == candles.open_time[10]
    assert trade["exit_price"] == 99.19
    assert trade["exit_reason"] == "stop_loss"


def test_backtesting_py_spread_and_commission() -> None:
    """Their spread is our slippage, their commission our fee: entry at bar 2's open x 1.01
    and 1% of its value, their equity at bar 2 to the cent. Their exit at bar 3's open pays
    no spread (backtesting.py charges the whole spread on entry), ours slips by 1% too: their
    equity at bar 3 less that slippage, net of the 1% fee it saves, to the cent."""

    class BuyThenClose(Strategy):  # type: ignore[misc]
        def init(self) -> None:
            self.done = False

        def next(self) -> None:
            if self.done:
                return
            if not self.position:
                self.buy()
            else:
                self.position.close()
                self.done = True

    data = GOOG.iloc[:20]
    stats = Backtest(data, BuyThenClose, cash=10_000, spread=0.01, commission=0.01).run()
    size = float(stats["_trades"]["Size"].iloc[0])  # their whole units
    fill = data["Open"].iloc[2] * 1.01
    candles = _candles(data)
    targets = np.zeros(20, np.int8)
    targets[1] = 1
    execution = ExecutionSettings(
        fee_rate=0.01, slippage_bps=100.0, position_size=size * fill * 1.01 / 10_000
    )
    result = simulate_targets(candles, targets, execution, "D")
    assert result.trades.entry_price[0] == pytest.approx(data["Open"].iloc[2] * 1.01, rel=1e-15)
    assert round(result.equity[2], 2) == 9685.31
    exit_slippage = size * data["Open"].iloc[3] * 0.01 * (1 - 0.01)
    assert round(result.equity[3], 2) == round(9749.3342 - exit_slippage, 2)


def test_risk_sizing_with_a_stop_at_the_fill_enters_at_the_cap() -> None:
    # Flat prices: ATR 0, so a 2 x ATR stop sits at the fill; no division by zero.
    candles = bars([(100, 100, 100, 100)] * 20)
    targets = [0] * 10 + [1] * 10
    result = run(candles, targets, stop_loss=AtrMultiple(2.0), risk=0.01, atr_period=3)
    assert result.warnings == ()  # the ATR was known: 0
    assert result.trades.qty[0] == pytest.approx(100.0, rel=1e-15)


def test_the_kernel_says_where_in_its_bar_each_fill_happened() -> None:
    """AT_OPEN, INSIDE or AT_CLOSE, and the detail candle that located it (what a trade's
    excursions need)."""
    flat = [(100.0, 100.0, 100.0, 100.0)] * 4
    hour = [(100, 102.5, 99.5, 102), (102, 102.2, 100, 100.5), (100.5, 100.6, 97, 97.5)]
    hourly, detail = _hourly_with_quarters([*flat, *hour, (97.5, 99, 97.2, 98), *flat])
    execution = ExecutionSettings(fee_rate=0.0, stop_loss=0.02, take_profit=0.02)
    laid_out = lay_out_detail(hourly, "60", FillDetail("15", detail), None, False)
    targets = np.array([1, 1, 1], np.int8)
    kernel = run_kernel(contiguous_prices(hourly), targets, 0, execution, None, laid_out.kernel)
    assert (kernel.entry_at[0], kernel.entry_candle[0]) == (AT_OPEN, -1)
    assert (kernel.exit_at[0], kernel.exit_candle[0]) == (INSIDE, 4)  # hour 1's first quarter
    # A limit filled inside a bar, stopped in the rest of it; then one at a close, still open.
    candles = bars([(100, 100, 100, 100), (100, 100.5, 97.9, 98.5), (98.5, 99, 98, 98.8)])
    limit = ExecutionSettings(
        fee_rate=0.0, stop_loss=0.01, entry_order=LimitEntry(offset=0.01, valid_bars=1)
    )
    kernel = run_kernel(contiguous_prices(candles), np.array([1, 1, 1], np.int8), 0, limit)
    assert (kernel.entry_at[0], kernel.exit_at[0]) == (INSIDE, INSIDE)
    close = ExecutionSettings(fee_rate=0.0, fill="close")
    kernel = run_kernel(contiguous_prices(candles), np.array([0, 1, 1], np.int8), 0, close)
    assert (kernel.entry_at[0], kernel.exit_at[0]) == (AT_CLOSE, -1)
