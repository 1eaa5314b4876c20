"""The compiled portfolio loop against the slow, obvious loop of tests/support/
portfolio_reference.py (random symbols with late starts and gaps, and real price paths;
slots and rotation; next open and close fills; stops, ATR stops, trailing stops and time
stops; leverage), and the identity with the one-symbol backtest on real data
(backtesting.py's GOOG and EURUSD samples)."""

import dataclasses
import math

import numpy as np
import pytest
from backtesting.test import EURUSD, GOOG

from domain.backtest import run_backtest
from domain.execution.config import BacktestConfig
from domain.execution.settings import EXIT_REASONS, AtrMultiple, ExecutionSettings, Stop
from domain.market.candles import Candles
from domain.market.perp_market import perp_market
from domain.portfolio_backtest import (
    PortfolioResult,
    PortfolioRules,
    SymbolSeries,
    rebalance_times,
    run_portfolio,
    simulate_portfolio_targets,
    union_timeline,
)
from tests.support import portfolio_reference as ref
from tests.support.candles import frame_candles as _candles

HOUR = 3_600_000

IDENTITY_CASES = [
    ("sma_cross", {"fast": 10, "slow": 30}, {}),
    ("rsi_reversion", {"period": 14, "lower": 30, "upper": 70}, {"fee_rate": 0.002}),
    (
        "donchian_breakout",
        {"period": 20},
        {"direction": "long_short", "fill": "close", "fee_rate": 0.001, "slippage_bps": 5},
    ),
    (
        "ema_cross",
        {"fast": 12, "slow": 26},
        {"stop_loss": 0.02, "take_profit": 0.05, "position_size": 0.5, "leverage": 3.0},
    ),
    ("sma_cross", {"fast": 10, "slow": 30}, {"trailing_stop": 0.03, "max_bars_in_trade": 12}),
    (
        "ema_cross",
        {"fast": 12, "slow": 26},
        {
            "direction": "long_short",
            "stop_loss": AtrMultiple(1.5),
            "take_profit": AtrMultiple(4.0),
            "trailing_stop": AtrMultiple(2.5),
            "slippage_bps": 3,
        },
    ),
    (
        "donchian_breakout",
        {"period": 20},
        {
            "direction": "long_short",
            "fill": "close",
            "stop_loss": 0.03,
            "trailing_stop": 0.04,
            "max_bars_in_trade": 8,
            "leverage": 2.0,
            "contract": "linear",
        },
    ),
    ("sma_cross", {"fast": 10, "slow": 30}, {"stop_loss": AtrMultiple(2.0), "risk": 0.01}),
]


@pytest.mark.parametrize("data", ["GOOG", "EURUSD"])
@pytest.mark.parametrize(("strategy", "params", "settings"), IDENTITY_CASES)
def test_one_symbol_portfolio_with_one_slot_is_the_single_backtest(
    data: str, strategy: str, params: dict[str, float], settings: dict[str, object]
) -> None:
    frame, interval = (GOOG, "D") if data == "GOOG" else (EURUSD, "60")
    candles = _candles(frame)
    trail = settings.get("trailing_stop")
    if data == "EURUSD" and isinstance(trail, float):
        settings = {**settings, "trailing_stop": trail / 10}  # hours of a currency: a tenth
    config = BacktestConfig(strategy, params, interval, ExecutionSettings(**settings))  # type: ignore[arg-type]
    single = run_backtest(candles, config, trade_from=60)
    portfolio = run_portfolio([SymbolSeries(data, candles, 60)], config, PortfolioRules(1))
    assert len(single.trades) > 5
    assert np.array_equal(single.time, portfolio.time)
    assert np.array_equal(single.equity, portfolio.equity)
    for name in ("side", "entry_time", "entry_price", "exit_time", "exit_price", "qty"):
        assert np.array_equal(getattr(single.trades, name), getattr(portfolio.trades, name))
    for name in ("pnl", "fees", "exit_reason", "funding", "returns"):
        assert np.array_equal(getattr(single.trades, name), getattr(portfolio.trades, name))
    assert np.array_equal(single.details.mae, portfolio.details.mae)
    assert np.array_equal(single.details.bars_held, portfolio.details.bars_held)
    assert np.array_equal(single.details.equity_return, portfolio.details.equity_return)
    metrics = dict(portfolio.metrics)
    assert metrics.pop("skipped_entries") == 0
    assert metrics == single.metrics
    assert portfolio.warnings == single.warnings
    reasons = {EXIT_REASONS[r] for r in single.trades.exit_reason}
    if "trailing_stop" in settings:
        assert "trailing_stop" in reasons
    if "max_bars_in_trade" in settings:
        assert "time_stop" in reasons


def test_portfolio_trades_without_an_atr_yet_have_no_atr_stop_and_a_warning() -> None:
    """From the first bar there is no ATR(14) for 14 bars: as for one symbol, a trade filled
    then has no ATR stop, and the result says how many such trades there were."""
    candles = _candles(GOOG)
    execution = ExecutionSettings(stop_loss=AtrMultiple(2.0))
    config = BacktestConfig("sma_cross", {"fast": 2, "slow": 5}, "D", execution)
    single = run_backtest(candles, config, trade_from=0)
    portfolio = run_portfolio([SymbolSeries("GOOG", candles, 0)], config, PortfolioRules(1))
    assert portfolio.kernel.without_atr > 0
    assert portfolio.warnings == single.warnings
    assert "had no ATR(14) yet at the fill" in portfolio.warnings[0]
    assert np.array_equal(single.equity, portfolio.equity)


def _random_symbol(rng: np.random.Generator, name: str, start: int, bars: int) -> ref.Sym:
    """Hourly bars from `start` (a late start), a few missing (gaps), random targets and
    ranks (some missing)."""
    times = [start + i * HOUR for i in range(bars) if rng.random() > 0.08]
    price = 100.0 * math.exp(rng.normal(0, 0.3))
    o, h, lo, c = [], [], [], []
    for _ in times:
        open_ = price * math.exp(rng.normal(0, 0.003))
        close = open_ * math.exp(rng.normal(0, 0.02))
        o.append(open_)
        c.append(close)
        h.append(max(open_, close) * math.exp(abs(rng.normal(0, 0.01))))
        lo.append(min(open_, close) * math.exp(-abs(rng.normal(0, 0.01))))
        price = close
    target = []
    current = 0
    for _ in times:
        if rng.random() < 0.15:
            current = int(rng.choice([-1, 0, 1]))
        target.append(current)
    rank = [math.nan if rng.random() < 0.05 else float(rng.integers(0, 6)) for _ in times]
    return ref.Sym(name, times, o, h, lo, c, target, rank)


def _stop(fraction: float | None, atr_multiple: float | None) -> Stop:
    return AtrMultiple(atr_multiple) if atr_multiple is not None else fraction


def _run_both(
    symbols: list[ref.Sym], setup: ref.Setup, every: str | int | None
) -> tuple[ref.Outcome, PortfolioResult]:
    series = [
        SymbolSeries(
            s.name,
            Candles(
                np.array(s.times, np.int64),
                np.array(s.open),
                np.array(s.high),
                np.array(s.low),
                np.array(s.close),
                np.ones(len(s.times)),
                np.ones(len(s.times)),
            ),
            0,
        )
        for s in symbols
    ]
    execution = ExecutionSettings(
        initial_capital=setup.initial_capital,
        fee_rate=setup.fee_rate,
        slippage_bps=setup.slippage * 10_000,
        position_size=setup.position_size,
        leverage=setup.leverage,
        direction="long_short",
        fill="close" if setup.fill_at_close else "next_open",
        stop_loss=_stop(setup.stop_loss, setup.stop_loss_atr),
        take_profit=_stop(setup.take_profit, setup.take_profit_atr),
        trailing_stop=_stop(setup.trailing_stop, setup.trailing_stop_atr),
        atr_period=setup.atr_period,
        max_bars_in_trade=setup.max_bars_in_trade,
        risk=setup.risk,
        contract="spot" if setup.leverage == 1 else "linear",
        funding=False,
        maintenance_margin_rate=0.0 if setup.leverage == 1 else 0.005,
    )
    config = BacktestConfig("sma_cross", {"fast": 2, "slow": 5}, "60", execution)
    rules = PortfolioRules(setup.max_positions, None, every)  # type: ignore[arg-type]
    result = simulate_portfolio_targets(
        series,
        [np.array(s.target, np.int8) for s in symbols],
        [None] * len(symbols),
        [np.array(s.rank) for s in symbols],
        config,
        rules,
    )
    if every is not None:
        union = sorted({t for s in symbols for t in s.times})
        fill_times = np.array(union, np.int64) + (HOUR if setup.fill_at_close else 0)
        setup.rebalance = set(np.flatnonzero(rebalance_times(fill_times, every)).tolist())  # type: ignore[arg-type]
    return ref.simulate(symbols, setup), result


CASES = [
    (ref.Setup(max_positions=2), None),
    (ref.Setup(max_positions=1, fill_at_close=True, slippage=0.0005), None),
    (ref.Setup(max_positions=3, stop_loss=0.02, take_profit=0.04, position_size=0.8), None),
    (ref.Setup(max_positions=2), "D"),
    (ref.Setup(max_positions=1, fill_at_close=True, stop_loss=0.03), 24),
    (ref.Setup(max_positions=2, position_size=0.6), "W"),
    (ref.Setup(max_positions=2, trailing_stop=0.06, max_bars_in_trade=10), None),
    (ref.Setup(max_positions=3, stop_loss_atr=1.0, take_profit_atr=2.5, fill_at_close=True), None),
    (ref.Setup(max_positions=2, stop_loss=0.03, trailing_stop_atr=1.5, atr_period=10), "D"),
    (ref.Setup(max_positions=1, trailing_stop=0.05, max_bars_in_trade=4, fill_at_close=True), 24),
    (ref.Setup(max_positions=2, stop_loss=0.02, risk=0.005, trailing_stop=0.04), None),
    (ref.Setup(max_positions=3, stop_loss_atr=1.5, risk=0.004, fill_at_close=True), "W"),
]


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize(("setup", "every"), CASES)
def test_portfolio_loop_agrees_with_the_slow_loop(
    seed: int, setup: ref.Setup, every: str | int | None
) -> None:
    setup = dataclasses.replace(setup)  # the case's own copy: rebalance times are set
    rng = np.random.default_rng(seed)
    start = 1_704_067_200_000  # 2024-01-01, a Monday
    symbols = [
        _random_symbol(rng, f"S{i}USDT", start + int(rng.integers(0, 3)) * 24 * HOUR, 24 * 30)
        for i in range(5)
    ]
    expected, result = _run_both(symbols, setup, every)
    assert len(expected.trades) > 8
    np.testing.assert_allclose(result.equity, np.array(expected.equity), rtol=1e-9)
    trades = sorted(expected.trades, key=lambda t: (t.entry_time, t.symbol))
    got = result.trades
    order = sorted(range(len(got)), key=lambda i: (got.entry_time[i], result.trade_symbols[i]))
    assert len(order) == len(trades)
    for i, want in zip(order, trades, strict=True):
        assert result.trade_symbols[i] == want.symbol
        assert got.side[i] == want.side
        assert got.exit_time[i] == (-1 if want.exit_time is None else want.exit_time)
        assert EXIT_REASONS[got.exit_reason[i]] == want.reason
        assert got.qty[i] == pytest.approx(want.qty, rel=1e-9)
        assert got.pnl[i] == pytest.approx(want.pnl, rel=1e-9, abs=1e-9)
        assert result.details.equity_return[i] == pytest.approx(want.pnl / want.entry_equity)
    assert result.metrics["skipped_entries"] == (0 if every is not None else expected.skipped)
    reasons = {t.reason for t in expected.trades}
    if setup.trailing_stop is not None or setup.trailing_stop_atr is not None:
        assert "trailing_stop" in reasons
    if setup.max_bars_in_trade is not None:
        assert "time_stop" in reasons
    if setup.stop_loss_atr is not None and setup.take_profit_atr is not None:
        assert {"stop_loss", "take_profit"} <= reasons
    if setup.risk is not None:  # the risk sizes some trades below the slot's stake
        slot = setup.position_size / setup.max_positions
        assert any(t.qty * t.entry_price < 0.9 * slot * t.entry_equity for t in expected.trades)
    if every is None and setup.max_positions <= 2:
        assert expected.skipped > 0


def _real_symbols() -> list[ref.Sym]:
    """Four symbols on real price paths: consecutive stretches of backtesting.py's EURUSD
    hours (their own weekend gaps kept), laid side by side from one start, two of them
    starting late; targets from a 10/40 moving-average cross (long above, short below) and
    ranks from the 24-bar change, both written out here with pandas."""
    frame = EURUSD
    start = 1_704_067_200_000
    symbols = []
    for j, late in enumerate([0, 0, 30, 75]):
        part = frame.iloc[j * 1200 + late : (j + 1) * 1200]
        hours = (part.index - frame.index[j * 1200]).total_seconds() // 3600
        close = part["Close"]
        fast, slow = close.rolling(10).mean(), close.rolling(40).mean()
        target = np.where(slow.isna(), 0, np.where(fast > slow, 1, -1))
        symbols.append(
            ref.Sym(
                f"R{j}USDT",
                [start + int(h) * HOUR for h in hours],
                part["Open"].tolist(),
                part["High"].tolist(),
                part["Low"].tolist(),
                close.tolist(),
                [int(x) for x in target],
                (close / close.shift(24) - 1).tolist(),
            )
        )
    return symbols


REAL_CASES = [
    (ref.Setup(max_positions=2, trailing_stop=0.004, fee_rate=0.0002), None),
    (
        ref.Setup(
            max_positions=3,
            stop_loss_atr=2.0,
            take_profit_atr=5.0,
            trailing_stop_atr=3.0,
            max_bars_in_trade=30,
            fee_rate=0.0002,
        ),
        None,
    ),
    (
        ref.Setup(max_positions=2, trailing_stop=0.003, max_bars_in_trade=20, fill_at_close=True),
        "D",
    ),
    (ref.Setup(max_positions=1, stop_loss=0.002, trailing_stop_atr=2.0, slippage=0.0001), 48),
    (ref.Setup(max_positions=2, stop_loss_atr=2.0, risk=0.005, trailing_stop=0.003), None),
]


@pytest.mark.parametrize(("setup", "every"), REAL_CASES)
def test_portfolio_stops_agree_with_the_slow_loop_on_real_prices(
    setup: ref.Setup, every: str | int | None
) -> None:
    setup = dataclasses.replace(setup)
    expected, result = _run_both(_real_symbols(), setup, every)
    assert len(expected.trades) > 20
    assert any(t.reason == "trailing_stop" for t in expected.trades)
    np.testing.assert_allclose(result.equity, np.array(expected.equity), rtol=1e-9)
    want = sorted(expected.trades, key=lambda t: (t.entry_time, t.symbol))
    got = result.trades
    order = sorted(range(len(got)), key=lambda i: (got.entry_time[i], result.trade_symbols[i]))
    assert [result.trade_symbols[i] for i in order] == [t.symbol for t in want]
    assert [EXIT_REASONS[got.exit_reason[i]] for i in order] == [t.reason for t in want]
    assert [int(got.exit_time[i]) for i in order] == [
        -1 if t.exit_time is None else t.exit_time for t in want
    ]
    np.testing.assert_allclose(got.pnl[order], [t.pnl for t in want], rtol=1e-9, atol=1e-9)
    if setup.max_bars_in_trade is not None:
        assert any(t.reason == "time_stop" for t in expected.trades)
    if setup.risk is not None:
        np.testing.assert_allclose(got.qty[order], [t.qty for t in want], rtol=1e-9)


def test_rebalance_times_start_each_day_week_month_or_every_n() -> None:
    monday = 1_704_067_200_000
    times = np.array([monday + h * HOUR for h in range(0, 24 * 40, 12)], np.int64)
    days = rebalance_times(times, "D")
    assert days.sum() == 40 and days[0] and days[2] and not days[1]
    weeks = rebalance_times(times, "W")
    assert np.flatnonzero(weeks).tolist() == [0, 14, 28, 42, 56, 70]
    months = rebalance_times(times, "M")
    assert np.flatnonzero(months).tolist() == [0, 62]  # 2024-02-01
    assert np.flatnonzero(rebalance_times(times, 25)).tolist() == [0, 25, 50, 75]


@pytest.mark.parametrize("fill", ["next_open", "close"])
@pytest.mark.parametrize("leverage", [50.0, 100.0])
def test_one_symbol_portfolio_is_the_single_backtest_with_funding_and_liquidation(
    fill: str, leverage: float
) -> None:
    """A perpetual on EURUSD's hours: a mark price off the candles, fundings every 8 hours
    (some inside bars, at half hours) and high leverage: at 50x positions pay funding, at
    100x they are liquidated."""
    candles = _candles(EURUSD)
    rng = np.random.default_rng(5)
    mark = Candles(
        candles.open_time,
        candles.open * (1 + rng.normal(0, 2e-4, len(candles))),
        candles.high * (1 + 1e-3),
        candles.low * (1 - 1e-3),
        candles.close,
        candles.volume,
        candles.turnover,
    )
    first, last = int(candles.open_time[0]), int(candles.open_time[-1])
    times = np.arange(first, last, 8 * 3_600_000, dtype=np.int64) + 1_800_000
    rates = rng.normal(1e-4, 3e-4, times.size)
    market = perp_market(candles, "60", mark, times, rates)
    execution = ExecutionSettings(
        direction="long_short",
        fill=fill,  # type: ignore[arg-type]
        leverage=leverage,
        maintenance_margin_rate=0.005,
        contract="linear",
        funding=True,
    )
    config = BacktestConfig("ema_cross", {"fast": 12, "slow": 26}, "60", execution)
    single = run_backtest(candles, config, trade_from=60, market=market)
    portfolio = run_portfolio(
        [SymbolSeries("EURUSD", candles, 60, market)], config, PortfolioRules(1)
    )
    if leverage == 50.0:
        assert abs(single.metrics["funding_paid"] or 0.0) > 100.0
    else:
        assert single.metrics["liquidations"]
    assert np.array_equal(single.equity, portfolio.equity)
    for name in ("side", "entry_price", "exit_time", "exit_price", "qty", "pnl", "funding"):
        assert np.array_equal(getattr(single.trades, name), getattr(portfolio.trades, name))
    metrics = dict(portfolio.metrics)
    metrics.pop("skipped_entries")
    assert metrics == single.metrics


@pytest.mark.parametrize(
    ("interval", "step", "off_grid"), [("60", HOUR, 0), ("1", 60_000, 7), ("M", HOUR, 0)]
)
def test_union_timeline_is_the_stable_sort_of_every_traded_time(
    interval: str, step: int, off_grid: int
) -> None:
    rng = np.random.default_rng(5)
    series = []
    for k in range(6):  # late starts, gaps, early ends; one symbol off the grid
        times = np.sort(rng.choice(400, size=int(rng.integers(1, 120)), replace=False)) * step
        times = times + (off_grid if k == 3 else 0)
        zeros = np.zeros(times.size)
        candles = Candles(times.astype(np.int64), *(zeros,) * 6)
        series.append(SymbolSeries(f"S{k}", candles, int(rng.integers(0, min(3, times.size)))))
    union, timeline = union_timeline(series, interval, None, "next_open")
    flat = np.concatenate([one.candles.open_time[one.trade_from :] for one in series])
    order = sorted(range(flat.size), key=lambda row: flat[row])  # stable: by symbol in a bar
    assert timeline.row.tolist() == order
    assert union.tolist() == sorted(set(flat.tolist()))
    for u, time in enumerate(union):
        rows = timeline.row[timeline.first[u] : timeline.stop[u]]
        assert (flat[rows] == time).all() and rows.size == np.count_nonzero(flat == time)
