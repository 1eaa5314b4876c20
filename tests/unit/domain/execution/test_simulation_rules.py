"""The simulation rules of docs/simulation.md on small hand-computed cases."""

import numpy as np
import pytest

from domain.market.candles import Candles
from tests.support.candles import MINUTE, bars, flat_bars, run


def test_the_documented_worked_example_quantity() -> None:
    candles = bars([(1.07, 1.08, 1.06, 1.075), (1.07652, 1.08, 1.07, 1.078)])
    result = run(candles, [1, 1], initial_capital=10_000, fee_rate=0.001)
    trade = result.trades
    assert trade.qty[0] == pytest.approx(9279.911186, abs=1e-6)
    assert trade.qty[0] == pytest.approx(10_000 / (1.07652 * 1.001), rel=1e-15)
    fee = 0.001 * trade.qty[0] * 1.07652
    assert trade.fees[0] == pytest.approx(fee, rel=1e-15)
    cash = 10_000 - trade.qty[0] * 1.07652 - fee
    assert cash == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(result.equity, [10_000, cash + trade.qty[0] * 1.078])


def test_next_open_fills_the_bar_after_the_change_and_not_after_the_end() -> None:
    candles = bars([(10, 11, 9, 10), (12, 13, 11, 12), (14, 15, 13, 14), (16, 17, 15, 16)])
    result = run(candles, [1, 1, 0, 1])
    trades = result.trades
    assert list(trades.entry_time) == [1 * MINUTE]
    assert list(trades.entry_price) == [12.0]
    assert list(trades.exit_time) == [3 * MINUTE]
    assert list(trades.exit_price) == [16.0]  # the change at bar 3 is never filled
    np.testing.assert_allclose(result.equity, [10_000, 10_000, 10_000 * 14 / 12, 10_000 * 16 / 12])


def test_close_fill_fills_at_the_changing_bar_close() -> None:
    candles = bars([(10, 11, 9, 10), (12, 13, 11, 12), (14, 15, 13, 14), (16, 17, 15, 16)])
    result = run(candles, [1, 1, 0, 1], fill="close")
    trades = result.trades
    assert list(trades.entry_price) == [10.0, 16.0]
    assert list(trades.exit_price) == [14.0, 16.0]
    assert list(trades.exit_time) == [2 * MINUTE, -1]
    assert result.metrics["num_trades"] == 2


def test_reversal_exits_and_enters_at_one_price_with_fees() -> None:
    fee = 0.001
    candles = flat_bars([100, 100, 110, 120, 120])
    result = run(candles, [1, 1, -1, -1, -1], fee_rate=fee, direction="long_short")
    long_qty = 10_000 / (100 * (1 + fee))
    cash_after_exit = 10_000 - long_qty * 100 * (1 + fee) + long_qty * 120 * (1 - fee)
    short_qty = cash_after_exit / (120 * (1 + fee))
    trades = result.trades
    assert list(trades.side) == [1, -1]
    assert list(trades.entry_price) == [100.0, 120.0]
    assert trades.exit_price[0] == 120.0
    assert trades.exit_time[0] == trades.entry_time[1] == 3 * MINUTE
    assert trades.qty[0] == pytest.approx(long_qty, rel=1e-14)
    assert trades.qty[1] == pytest.approx(short_qty, rel=1e-14)
    long_pnl = long_qty * 20 - fee * long_qty * 100 - fee * long_qty * 120
    assert trades.pnl[0] == pytest.approx(long_pnl, rel=1e-12)
    assert trades.returns[0] == pytest.approx(long_pnl / (long_qty * 100), rel=1e-12)
    # The short still open at the end: marked at the last close, no exit fee.
    assert trades.exit_time[1] == -1
    assert trades.fees[1] == pytest.approx(fee * short_qty * 120, rel=1e-14)
    cash = cash_after_exit + short_qty * 120 * (1 - fee)
    assert result.equity[-1] == pytest.approx(cash - short_qty * 120, rel=1e-14)
    assert result.trades.frame()["exit_time"].to_list() == [3 * MINUTE, None]


def test_short_equity_and_pnl() -> None:
    candles = flat_bars([100, 100, 90, 80, 80])
    result = run(candles, [-1, -1, -1, 0, 0], direction="short_only", fee_rate=0.0)
    qty = 10_000 / 100
    np.testing.assert_allclose(
        result.equity, [10_000, 10_000, 20_000 - qty * 90, 20_000 - qty * 80, 12_000]
    )
    assert result.trades.pnl[0] == pytest.approx(qty * (100 - 80))
    assert result.trades.returns[0] == pytest.approx(0.2)


def test_slippage_moves_buys_up_and_sells_down() -> None:
    candles = flat_bars([100, 100, 100, 100])
    result = run(candles, [1, 0, -1, -1], slippage_bps=50, direction="long_short")
    trades = result.trades
    assert trades.entry_price[0] == pytest.approx(100.5)
    assert trades.exit_price[0] == pytest.approx(99.5)
    assert trades.entry_price[1] == pytest.approx(99.5)  # a short entry sells


def test_position_size_scales_the_entry() -> None:
    result = run(flat_bars([100, 100, 100]), [1, 1, 1], position_size=0.25, fee_rate=0.01)
    assert result.trades.qty[0] == pytest.approx(10_000 * 0.25 / (100 * 1.01))


# Stops. Entry at 100 in every case: SL 2% -> 98, TP 5% -> 105 for a long.


def test_stop_loss_checked_on_the_fill_bar_when_filled_at_open() -> None:
    candles = bars([(100, 100, 100, 100), (100, 101, 97, 99), (99, 99, 99, 99)])
    result = run(candles, [1, 1, 1], stop_loss=0.02)
    assert result.trades.exit_time[0] == 1 * MINUTE
    assert result.trades.exit_price[0] == pytest.approx(98.0)
    assert result.trades.exit_reason[0] == 1


def test_close_fill_starts_checking_stops_on_the_next_bar() -> None:
    candles = bars([(100, 100, 90, 100), (100, 101, 99, 100), (100, 100, 97, 99)])
    result = run(candles, [1, 1, 1], stop_loss=0.02, fill="close")
    # Bar 0's low (90) came before the fill at its close; bar 1 stays above 98.
    assert result.trades.entry_time[0] == 0
    assert result.trades.exit_time[0] == 2 * MINUTE
    assert result.trades.exit_price[0] == pytest.approx(98.0)


def test_gap_through_the_stop_fills_at_the_open() -> None:
    candles = bars([(100, 100, 100, 100), (100, 100, 99, 100), (95, 96, 94, 95)])
    result = run(candles, [1, 1, 1], stop_loss=0.02, slippage_bps=10)
    assert result.trades.exit_time[0] == 2 * MINUTE
    entry = 100 * 1.001
    assert result.trades.entry_price[0] == pytest.approx(entry)
    assert result.trades.exit_price[0] == pytest.approx(95 * 0.999)  # the open, slipped


def test_gap_through_take_profit_fills_at_the_open() -> None:
    candles = bars([(100, 100, 100, 100), (100, 100, 99, 100), (108, 109, 107, 108)])
    result = run(candles, [1, 1, 1], stop_loss=0.02, take_profit=0.05)
    assert result.trades.exit_price[0] == 108.0
    assert result.trades.exit_reason[0] == 2


def test_both_hit_inside_one_bar_takes_the_stop_loss() -> None:
    candles = bars([(100, 100, 100, 100), (100, 100, 99, 100), (100, 106, 97, 101)])
    result = run(candles, [1, 1, 1], stop_loss=0.02, take_profit=0.05)
    assert result.trades.exit_price[0] == pytest.approx(98.0)
    assert result.trades.exit_reason[0] == 1


def test_take_profit_at_its_level() -> None:
    candles = bars([(100, 100, 100, 100), (100, 100, 99, 100), (101, 106, 100, 101)])
    result = run(candles, [1, 1, 1], stop_loss=0.02, take_profit=0.05, fee_rate=0.001)
    trades = result.trades
    assert trades.exit_price[0] == pytest.approx(105.0)
    qty = 10_000 / (100 * 1.001)
    assert trades.fees[0] == pytest.approx(0.001 * qty * (100 + 105))
    assert result.equity[-1] == pytest.approx(qty * 105 * 0.999)


def test_short_stops_mirror() -> None:
    rows = [(100, 100, 100, 100), (100, 101, 99, 100), (100, 103, 99, 100)]
    result = run(bars(rows), [-1, -1, -1], stop_loss=0.02, direction="short_only")
    assert result.trades.exit_price[0] == pytest.approx(102.0)
    rows[2] = (100, 101, 94, 100)
    result = run(bars(rows), [-1, -1, -1], take_profit=0.05, direction="short_only")
    assert result.trades.exit_price[0] == pytest.approx(95.0)
    rows[2] = (104, 104, 103, 104)
    result = run(bars(rows), [-1, -1, -1], stop_loss=0.02, direction="short_only")
    assert result.trades.exit_price[0] == 104.0


def test_flat_after_a_stop_until_the_target_changes() -> None:
    rows = [(100, 100, 100, 100), (100, 100, 97, 98), (98, 99, 98, 99), (99, 99, 99, 99)]
    rows += [(99, 99, 99, 99), (99, 100, 99, 100), (100, 100, 100, 100)]
    result = run(bars(rows), [1, 1, 1, 0, 1, 1, 1], stop_loss=0.02)
    trades = result.trades
    # Stopped at bar 1; the target stays 1 so no re-entry; 0 at bar 3, 1 at bar 4: re-enter
    # at bar 5's open.
    assert list(trades.entry_time) == [1 * MINUTE, 5 * MINUTE]
    assert trades.exit_time[0] == 1 * MINUTE
    assert trades.entry_price[1] == 99.0
    assert result.metrics["exposure"] == pytest.approx(2 / 7)


def test_reversal_after_a_stop_enters_the_new_side() -> None:
    rows = [(100, 100, 100, 100), (100, 100, 97, 98), (98, 98, 98, 98), (97, 97, 97, 97)]
    result = run(bars(rows), [1, 1, -1, -1], stop_loss=0.02, direction="long_short")
    assert list(result.trades.side) == [1, -1]
    assert result.trades.entry_price[1] == 97.0


def test_trade_from_only_warms_up() -> None:
    candles = flat_bars([100, 101, 102, 103, 104, 105])
    targets = [1, 1, 1, 1, 0, 0]
    result = run(candles, targets, trade_from=2, fee_rate=0.001)
    assert list(result.time) == [2 * MINUTE, 3 * MINUTE, 4 * MINUTE, 5 * MINUTE]
    # Starts flat at bar 2; the target there counts as a change from flat, filled at bar 3.
    assert result.equity[0] == 10_000
    assert list(result.trades.entry_time) == [3 * MINUTE]
    sliced = Candles(*(getattr(candles, f)[2:] for f in candles.__dataclass_fields__))
    alone = run(sliced, targets[2:], fee_rate=0.001)
    np.testing.assert_array_equal(result.equity, alone.equity)
    assert result.metrics == alone.metrics


def test_trade_to_ends_the_data_early() -> None:
    candles = flat_bars([100, 101, 102, 103, 104, 105])
    targets = [0, 1, 1, 1, 0, 0]
    result = run(candles, targets, trade_from=1, trade_to=4, fee_rate=0.001)
    sliced = Candles(*(getattr(candles, f)[1:4] for f in candles.__dataclass_fields__))
    alone = run(sliced, targets[1:4], fee_rate=0.001)
    np.testing.assert_array_equal(result.equity, alone.equity)
    assert result.metrics == alone.metrics
    assert list(result.trades.exit_time) == [-1]  # the exit at bar 5 lies beyond the end
    assert result.trades.exit_price[0] == 103.0


def test_no_targets_no_trades() -> None:
    result = run(flat_bars([100, 101, 99]), [0, 0, 0])
    assert len(result.trades) == 0
    assert result.metrics["final_equity"] == 10_000
    assert result.metrics["win_rate"] is None
    assert result.trades.frame().height == 0


def test_bad_arguments_are_rejected() -> None:
    with pytest.raises(ValueError, match="trade_from"):
        run(flat_bars([1, 2]), [0, 0], trade_from=3)
    with pytest.raises(ValueError, match="trade_to"):
        run(flat_bars([1, 2]), [0, 0], trade_from=1, trade_to=0)
    with pytest.raises(ValueError, match="one target per candle"):
        run(flat_bars([1, 2]), [0])
