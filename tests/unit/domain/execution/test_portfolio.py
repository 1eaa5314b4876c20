"""The compiled portfolio loop against the slow, obvious loop of tests/support/
portfolio_reference.py (random symbols with late starts and gaps; slots and rotation; next
open and close fills; stops; leverage), and the identity with the one-symbol backtest on real
data (backtesting.py's GOOG and EURUSD samples)."""

import dataclasses
import math

import numpy as np
import pytest
from backtesting.test import EURUSD, GOOG

from domain.backtest import run_backtest
from domain.execution.config import BacktestConfig
from domain.execution.settings import EXIT_REASONS, ExecutionSettings
from domain.market.candles import Candles
from domain.market.perp_market import perp_market
from domain.portfolio_backtest import (
    PortfolioResult,
    PortfolioRules,
    SymbolSeries,
    rebalance_times,
    run_portfolio,
    simulate_portfolio_targets,
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
]


@pytest.mark.parametrize("data", ["GOOG", "EURUSD"])
@pytest.mark.parametrize(("strategy", "params", "settings"), IDENTITY_CASES)
def test_one_symbol_portfolio_with_one_slot_is_the_single_backtest(
    data: str, strategy: str, params: dict[str, float], settings: dict[str, object]
) -> None:
    frame, interval = (GOOG, "D") if data == "GOOG" else (EURUSD, "60")
    candles = _candles(frame)
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
        stop_loss=setup.stop_loss,
        take_profit=setup.take_profit,
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
    if every is None and setup.max_positions <= 2:
        assert expected.skipped > 0


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
