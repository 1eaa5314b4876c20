"""docs/simulation.md's perpetual rules on small hand-computed cases: leverage, funding,
liquidation (and its place among the stops), inverse contracts in coin."""

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from domain.backtest import BacktestResult, simulate_targets
from domain.execution.settings import ExecutionSettings
from domain.market.candles import Candles
from domain.market.perp_market import PerpMarket, funding_bars, perp_market
from tests.support.candles import bars

HOUR = 3_600_000
Row = tuple[float, float, float, float]


def hourly(
    rows: Sequence[Row], hours: Sequence[int] | npt.NDArray[np.int64] | None = None
) -> Candles:
    """Hourly candles from (open, high, low, close) rows, at the given hours (default 0..n-1)."""
    candles = bars(rows)
    at = np.arange(len(rows)) if hours is None else np.asarray(hours)
    return Candles(at.astype(np.int64) * HOUR, *(getattr(candles, f) for f in _PRICES))


_PRICES = ("open", "high", "low", "close", "volume", "turnover")


def market(
    candles: Candles,
    mark_rows: Sequence[Row] | None = None,
    fundings: Sequence[tuple[float, float]] = (),
) -> PerpMarket:
    """Mark candles (the candles themselves when None) and fundings (hour, rate)."""
    mark = candles if mark_rows is None else hourly(mark_rows, candles.open_time // HOUR)
    times = np.array([round(h * HOUR) for h, _ in fundings], np.int64)
    rates = np.array([r for _, r in fundings], np.float64)
    return perp_market(candles, "60", mark, times, rates)


def run(
    candles: Candles,
    targets: list[int],
    perp: PerpMarket | None = None,
    **settings: Any,
) -> BacktestResult:
    execution = ExecutionSettings(
        **{"fee_rate": 0.0, "contract": "linear", "funding": True, **settings}
    )
    return simulate_targets(
        candles, np.array(targets, np.int8), execution, "60", market=perp or market(candles)
    )


def test_entry_quantity_uses_the_leverage() -> None:
    candles = hourly([(100, 100, 100, 100), (100, 101, 99, 100), (100, 102, 100, 102)])
    result = run(candles, [1, 1, 1], leverage=10.0, fee_rate=0.001)
    qty = 10_000 / (100 * (1 / 10 + 0.001))
    assert result.trades.qty[0] == pytest.approx(qty, rel=1e-15)
    fee = 0.001 * qty * 100
    # Equity = wallet + unrealized PnL at the close.
    assert result.equity[1] == pytest.approx(10_000 - fee, rel=1e-12)
    assert result.equity[2] == pytest.approx(10_000 - fee + qty * 2, rel=1e-12)
    assert result.trades.returns[0] == pytest.approx((qty * 2 - fee) / (qty * 100), rel=1e-12)


def test_a_long_receives_funding_at_a_negative_rate_at_the_mark_open() -> None:
    candles = hourly([(100, 100, 100, 100)] * 2 + [(110, 110, 110, 110)] * 2)
    marks = [(100, 100, 100, 100), (100, 100, 100, 100), (111, 111, 111, 111), (110,) * 4]
    perp = market(candles, marks, fundings=[(2.5, -0.001)])  # inside bar 2
    result = run(candles, [1, 1, 1, 0], perp)  # long from bar 1's open, never exits
    qty = 10_000 / 100
    received = qty * 111 * 0.001  # the mark's open, not the candle's
    assert result.trades.funding[0] == pytest.approx(-received, rel=1e-15)
    assert result.metrics["funding_paid"] == pytest.approx(-received, rel=1e-15)
    # The target turns 0 on the last bar, which is never filled: still open.
    assert result.trades.pnl[0] == pytest.approx(qty * 10 + received, rel=1e-12)
    assert result.equity[2] == pytest.approx(10_000 + qty * 10 + received, rel=1e-12)


def test_a_short_pays_at_a_negative_rate_and_funding_counts_in_pnl() -> None:
    candles = hourly([(100, 100, 100, 100)] * 4)
    perp = market(candles, fundings=[(2, -0.0005)])
    result = run(candles, [-1, -1, 0, 0], perp, direction="short_only")
    qty = 100.0
    paid = qty * 100 * 0.0005
    assert result.trades.exit_time[0] == 3 * HOUR  # held coming into bar 2: it pays there
    assert result.trades.funding[0] == pytest.approx(paid)
    assert result.trades.pnl[0] == pytest.approx(-paid)
    assert result.metrics["final_equity"] == pytest.approx(10_000 - paid)


def test_a_position_opened_at_a_funding_time_pays_nothing_at_it() -> None:
    candles = hourly([(100, 100, 100, 100)] * 4)
    perp = market(candles, fundings=[(1, 0.01), (2, 0.001)])
    result = run(candles, [1, 1, 1, 1], perp)  # filled at bar 1's open: hour 1
    assert result.trades.funding[0] == pytest.approx(100 * 100 * 0.001)


def test_a_funding_time_inside_a_gap_is_booked_at_the_next_bar() -> None:
    candles = hourly([(100, 100, 100, 100)] * 4, hours=[0, 1, 2, 6])
    times = np.array([2 * HOUR + 1, 4 * HOUR, 6 * HOUR + 5, 7 * HOUR, -HOUR], np.int64)
    assert funding_bars(candles.open_time, "60", times).tolist() == [2, 3, 3, 4, 4]
    perp = market(candles, fundings=[(4, 0.001), (5, 0.002), (9, 0.5)])
    assert perp.funding_rate == pytest.approx([0, 0, 0, 0.003], rel=1e-15)
    result = run(candles, [1, 1, 1, 1], perp)
    assert result.trades.funding[0] == pytest.approx(100 * 100 * 0.003)


def test_rate_zero_books_nothing() -> None:
    candles = hourly([(100, 101, 99, 100), (100, 103, 98, 102), (102, 104, 100, 101)] * 3)
    targets = [1, 1, -1, -1, 0, 1, 1, -1, 0]
    plain = run(candles, targets, market(candles), direction="long_short", fee_rate=0.001)
    zero = market(candles, fundings=[(h, 0.0) for h in range(9)])
    funded = run(candles, targets, zero, direction="long_short", fee_rate=0.001)
    assert funded.equity.tobytes() == plain.equity.tobytes()
    assert funded.trades.pnl.tobytes() == plain.trades.pnl.tobytes()


LONG_20X: dict[str, Any] = {"leverage": 20.0, "maintenance_margin_rate": 0.005}


def test_a_20x_long_is_liquidated_at_its_bankruptcy_price_when_the_mark_low_reaches_lp() -> None:
    # Entry 100: LP = 100 x (1 - 1/20 + 0.005) = 95.5, BP = 95.
    candles = hourly([(100, 100, 100, 100), (100, 101, 99, 100), (99, 99, 96, 97), (97,) * 4])
    marks = [(100,) * 4, (100, 101, 99, 100), (99, 99, 95.4, 97), (97,) * 4]
    result = run(candles, [1, 1, 1, 1], market(candles, marks), fee_rate=0.001, **LONG_20X)
    trades = result.trades
    qty = 10_000 / (100 * (1 / 20 + 0.001))
    assert trades.exit_reason.tolist() == [5]  # liquidation
    assert trades.frame()["exit_reason"].to_list() == ["liquidation"]
    assert (trades.exit_time[0], trades.exit_price[0]) == (2 * HOUR, pytest.approx(95.0))
    entry_fee = 0.001 * qty * 100
    assert trades.fees[0] == pytest.approx(entry_fee)  # no fee on the liquidation
    assert trades.pnl[0] == pytest.approx(qty * (95 - 100) - entry_fee)
    assert result.metrics["liquidations"] == 1
    # Flat after it: equity stays where the liquidation left it.
    # The whole equity was margin (position_size 1): the liquidation takes it all.
    assert result.equity[-1] == result.equity[2] == pytest.approx(0.0, abs=1e-6)


def test_the_last_price_alone_does_not_liquidate() -> None:
    candles = hourly([(100, 100, 100, 100), (100, 101, 99, 100), (99, 99, 95.4, 97)])
    marks = [(100,) * 4, (100, 101, 99, 100), (99, 99, 96, 97)]
    result = run(candles, [1, 1, 1], market(candles, marks), **LONG_20X)
    assert result.metrics["liquidations"] == 0


def test_a_mark_open_past_lp_liquidates_before_a_stop_the_open_is_past() -> None:
    candles = hourly([(100, 100, 100, 100), (100, 101, 99, 100), (94, 95, 93, 94)])
    marks = [(100,) * 4, (100, 101, 99, 100), (95, 95, 93, 94)]
    result = run(candles, [1, 1, 1], market(candles, marks), stop_loss=0.04, **LONG_20X)
    assert result.trades.exit_reason.tolist() == [5]
    assert result.trades.exit_price[0] == pytest.approx(95.0)  # BP, not the open


def test_a_stop_loss_reached_inside_the_bar_fills_before_the_liquidation() -> None:
    candles = hourly([(100, 100, 100, 100), (100, 101, 99, 100), (99, 99, 94, 95)])
    marks = [(100,) * 4, (100, 101, 99, 100), (99, 99, 94, 95)]
    result = run(candles, [1, 1, 1], market(candles, marks), stop_loss=0.03, **LONG_20X)
    assert result.trades.exit_reason.tolist() == [1]  # stop_loss
    assert result.trades.exit_price[0] == pytest.approx(97.0)


def test_an_open_past_the_stop_fills_there_when_the_mark_open_is_above_lp() -> None:
    candles = hourly([(100, 100, 100, 100), (100, 101, 99, 100), (96, 96, 94, 95)])
    marks = [(100,) * 4, (100, 101, 99, 100), (96, 96, 94, 95)]
    result = run(candles, [1, 1, 1], market(candles, marks), stop_loss=0.03, **LONG_20X)
    assert result.trades.exit_reason.tolist() == [1]
    assert result.trades.exit_price[0] == pytest.approx(96.0)


def test_a_stop_loss_beyond_lp_is_never_set() -> None:
    candles = hourly([(100, 100, 100, 100), (100, 101, 99, 100), (99, 99, 90, 91)])
    result = run(candles, [1, 1, 1], stop_loss=0.08, **LONG_20X)
    assert result.trades.exit_reason.tolist() == [5]
    assert result.trades.exit_price[0] == pytest.approx(95.0)


def test_take_profit_comes_after_the_liquidation_inside_a_bar() -> None:
    candles = hourly([(100, 100, 100, 100), (100, 101, 99, 100), (100, 106, 95, 100)])
    result = run(candles, [1, 1, 1], take_profit=0.05, **LONG_20X)
    assert result.trades.exit_reason.tolist() == [5]


def test_a_short_is_liquidated_when_the_mark_high_reaches_lp() -> None:
    # Entry 100 at 10x: LP = 100 x (1 + 0.1 - 0.01) = 109, BP = 110.
    candles = hourly([(100, 100, 100, 100), (100, 101, 99, 100), (100, 108, 99, 104)])
    marks = [(100,) * 4, (100, 101, 99, 100), (100, 109.01, 99, 104)]
    settings: dict[str, Any] = {
        "leverage": 10.0,
        "maintenance_margin_rate": 0.01,
        "direction": "short_only",
    }
    result = run(candles, [-1, -1, -1], market(candles, marks), **settings)
    assert result.trades.exit_reason.tolist() == [5]
    assert result.trades.exit_price[0] == pytest.approx(110.0)
    assert result.trades.pnl[0] == pytest.approx(-(10_000 / (100 * 0.1)) * 10)


def test_leverage_one_never_liquidates() -> None:
    candles = hourly([(100, 100, 100, 100), (100, 101, 99, 100), (50, 50, 0.1, 0.2)])
    result = run(candles, [1, 1, 1], leverage=1.0, maintenance_margin_rate=0.5)
    assert result.metrics["liquidations"] == 0


INVERSE: dict[str, Any] = {"contract": "inverse", "initial_capital": 1.0, "fee_rate": 0.001}


def test_an_inverse_long_pnl_fees_and_return_in_coin() -> None:
    candles = hourly([(100, 100, 100, 100), (100, 101, 99, 100), (110, 110, 110, 110), (110,) * 4])
    result = run(candles, [1, 1, 0, 0], **INVERSE)
    trades = result.trades
    qty = 1.0 * 100 / (1 + 0.001)  # USD contracts
    assert trades.qty[0] == pytest.approx(qty, rel=1e-15)
    fees = 0.001 * qty / 100 + 0.001 * qty / 110
    assert trades.fees[0] == pytest.approx(fees, rel=1e-12)
    pnl = qty * (1 / 100 - 1 / 110) - fees
    assert trades.pnl[0] == pytest.approx(pnl, rel=1e-12)
    assert trades.returns[0] == pytest.approx(pnl / (qty / 100), rel=1e-12)
    assert result.metrics["final_equity"] == pytest.approx(1.0 + pnl, rel=1e-12)
    # Marked in coin at bar 1's close (100): only the entry fee is lost.
    assert result.equity[1] == pytest.approx(1.0 - 0.001 * qty / 100, rel=1e-12)


def test_an_inverse_short_pnl_and_funding_in_coin() -> None:
    candles = hourly([(100,) * 4, (100,) * 4, (80, 80, 80, 80), (80,) * 4])
    perp = market(candles, [(100,) * 4, (100,) * 4, (79, 80, 79, 80), (80,) * 4], [(2, 0.001)])
    settings: dict[str, Any] = {
        **INVERSE,
        "fee_rate": 0.0,
        "leverage": 2.0,
        "direction": "short_only",
    }
    result = run(candles, [-1, -1, -1, -1], perp, **settings)
    trades = result.trades
    qty = 1.0 * 100 / 0.5
    received = qty / 79 * 0.001  # a short receives at a positive rate: quantity / mark x rate
    assert trades.funding[0] == pytest.approx(-received, rel=1e-12)
    assert trades.pnl[0] == pytest.approx(qty * (1 / 80 - 1 / 100) + received, rel=1e-12)


def test_an_inverse_long_liquidation_and_bankruptcy_prices() -> None:
    # Entry 100 at 10x, mmr 0.005: LP = 100 / 1.095 = 91.32..., BP = 100 / 1.1 = 90.90...
    candles = hourly([(100,) * 4, (100, 101, 99, 100), (95, 95, 91.4, 92), (92, 92, 91.3, 92)])
    settings: dict[str, Any] = {
        **INVERSE,
        "fee_rate": 0.0,
        "leverage": 10.0,
        "maintenance_margin_rate": 0.005,
    }
    result = run(candles, [1, 1, 1, 1], **settings)
    trades = result.trades
    assert (trades.exit_reason.tolist(), trades.exit_time[0]) == ([5], 3 * HOUR)
    assert trades.exit_price[0] == pytest.approx(100 / 1.1, rel=1e-15)
    qty = 1.0 * 100 / 0.1
    assert trades.pnl[0] == pytest.approx(qty * (1 / 100 - 1.1 / 100), rel=1e-12)
    assert trades.pnl[0] == pytest.approx(-1.0 / 1.0, rel=1e-12)  # the whole margin: 1 coin


def test_an_inverse_long_at_1x_is_liquidated_near_half_its_entry() -> None:
    # LP = 100 / (2 - 0.005) = 50.125..., BP = 50: there the whole coin margin is gone.
    candles = hourly([(100,) * 4, (100,) * 4, (60, 60, 50.2, 55), (55, 55, 50.1, 52)])
    settings: dict[str, Any] = {**INVERSE, "fee_rate": 0.0, "leverage": 1.0}
    result = run(candles, [1, 1, 1, 1], maintenance_margin_rate=0.005, **settings)
    assert (result.trades.exit_reason.tolist(), result.trades.exit_time[0]) == ([5], 3 * HOUR)
    assert result.trades.exit_price[0] == pytest.approx(50.0)
    assert result.metrics["final_equity"] == pytest.approx(0.0, abs=1e-12)


def test_an_inverse_short_at_1x_is_never_liquidated() -> None:
    candles = hourly([(100,) * 4, (100,) * 4, (300, 400, 300, 400)])
    result = run(candles, [-1, -1, -1], **INVERSE, direction="short_only", leverage=1.0)
    assert result.metrics["liquidations"] == 0


@pytest.mark.parametrize(
    ("contract", "leverage"), [("linear", 3.0), ("linear", 50.0), ("inverse", 5.0)]
)
def test_bars_held_without_stops_liquidate_as_the_stop_check_of_every_bar_does(
    contract: str, leverage: float
) -> None:
    # A stop loss past the liquidation price is never set, but with it every held bar goes
    # through the full stop check: the quiet bars' own liquidation check must agree with it.
    rng = np.random.default_rng(5)
    n = 4000
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.03, n)))
    open_ = np.concatenate([[100.0], close[:-1]])
    high = np.maximum(open_, close) * (1.0 + np.abs(rng.normal(0.0, 0.01, n)))
    low = np.minimum(open_, close) * (1.0 - np.abs(rng.normal(0.0, 0.01, n)))
    candles = hourly(list(zip(open_, high, low, close, strict=True)))
    # The mark's range is wider than the candle's at some bars: it alone liquidates there.
    wider = 1.0 + 0.03 * (np.arange(n) % 3 == 0)
    mark_rows = list(zip(open_, high * wider, low / wider, close, strict=True))
    perp = market(candles, mark_rows, [(h + 0.5 * (h % 2), 0.0003) for h in range(0, n, 8)])
    targets = list(np.repeat(rng.choice([-1, 0, 1], n // 100), 100))
    settings = {"contract": contract, "leverage": leverage, "direction": "long_short"}
    quiet = run(candles, targets, perp, **settings)
    checked = run(candles, targets, perp, stop_loss=0.95, **settings)
    assert quiet.metrics["liquidations"] != 0
    assert quiet.equity.tobytes() == checked.equity.tobytes()
    assert quiet.trades.records() == checked.trades.records()
