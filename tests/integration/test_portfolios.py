"""Portfolio backtests through the API and an engine worker: a 4-symbol daily rotation on
stored candles (one symbol starting late), checked against the slow, obvious loop of
tests/support/portfolio_reference.py on the same candles, targets and ranks; every 422 of
the request's portfolio fields."""

import dataclasses
from datetime import UTC, datetime
from typing import Any

import asyncpg
import numpy as np
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from domain.execution.settings import ExecutionSettings
from domain.portfolio_backtest import (
    PortfolioRules,
    rebalance_times,
    run_portfolio,
    series_between,
    traded_times,
)
from domain.research.monte_carlo import resample_trades
from domain.strategies import strategy_entry
from domain.strategies.rank_rule import parse_rank
from domain.targets.ranks import rank_values
from domain.targets.strategy_targets import StrategyTargets
from services.engine.portfolio_loading import load_portfolio_series
from shared.backtest_spec import BacktestSpec
from shared.market_data import load_candles_warmed
from shared.settings import Settings
from tests.support import portfolio_reference as ref
from tests.support.market import T0, insert_candles, random_walk
from tests.support.services import running_engine, settled

pytestmark = pytest.mark.integration

Client = TestClient[web.Request, web.Application]
HOUR = 3_600_000
SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"]
ROTATION: dict[str, Any] = {
    "category": "spot",
    "symbols": SYMBOLS,
    "interval": "60",
    "start": "2024-01-01T00:00:00Z",
    "end": "2024-02-15T00:00:00Z",
    "strategy": {"name": "sma_cross", "params": {"fast": 24, "slow": 120}},
    "fee_rate": 0.001,
    "warmup_bars": 0,
    "portfolio": {"max_positions": 2, "rank": "roc(close, 24)", "rebalance": {"every": "D"}},
}
ROTATION_START = datetime(2024, 1, 1, tzinfo=UTC)
ROTATION_END = datetime(2024, 2, 15, tzinfo=UTC)


async def _store(pool: asyncpg.Pool) -> None:
    for i, symbol in enumerate(SYMBOLS):
        late = 3 * 24 if symbol == "XRPUSDT" else 0  # a late start
        walk = random_walk(T0 + late * HOUR, 45 * 24 - late, "60", seed=11 + i)
        await insert_candles(pool, "spot", symbol, "60", walk)


async def _reference_symbols(pool: asyncpg.Pool) -> list[ref.Sym]:
    """The stored candles, each symbol's sma_cross targets and rank, for the slow loop."""
    entry = strategy_entry("sma_cross")
    params = {"fast": 24, "slow": 120}
    rank = parse_rank("roc(close, 24)", entry)
    symbols = []
    async with pool.acquire() as conn:
        for symbol in SYMBOLS:
            candles = await load_candles_warmed(
                conn, "spot", symbol, "60", ROTATION_START, ROTATION_END, 0
            )
            targets = StrategyTargets(entry, candles, interval="60")(params, "long_only")
            ranks = rank_values(rank, candles, params, "60")
            symbols.append(
                ref.Sym(
                    symbol,
                    candles.open_time.tolist(),
                    candles.open.tolist(),
                    candles.high.tolist(),
                    candles.low.tolist(),
                    candles.close.tolist(),
                    [int(x) for x in targets],
                    ranks.tolist(),
                )
            )
    return symbols


async def _reference(pool: asyncpg.Pool) -> ref.Outcome:
    """The slow loop on the stored candles, each symbol's sma_cross targets and rank."""
    symbols = await _reference_symbols(pool)
    union = np.array(sorted({t for s in symbols for t in s.times}), np.int64)
    setup = ref.Setup(
        initial_capital=ExecutionSettings().initial_capital,
        fee_rate=0.001,
        max_positions=2,
        rebalance=set(np.flatnonzero(rebalance_times(union, "D")).tolist()),
    )
    return ref.simulate(symbols, setup)


async def _succeeded(
    api: Client, settings: Settings, path: str, body: dict[str, Any]
) -> tuple[dict[str, Any], str]:
    """The finished job of posting `body` to `path` with an engine running, and its URL."""
    async with running_engine(settings):
        resp = await api.post(path, json=body)
        assert resp.status == 202, await resp.text()
        done = await settled(api, resp.headers["Location"])
    assert done["status"] == "succeeded", done["error"]
    return done, resp.headers["Location"]


async def test_a_daily_rotation_of_four_symbols_matches_the_slow_loop(
    api: Client, pool: asyncpg.Pool, settings: Settings
) -> None:
    await _store(pool)
    async with running_engine(settings):
        body = {**ROTATION, "monte_carlo": {"runs": 500, "seed": 3}}
        resp = await api.post("/api/v1/backtests", json=body)
        assert resp.status == 202, await resp.text()
        done = await settled(api, resp.headers["Location"])
        assert done["status"] == "succeeded", done["error"]
        rerun = await api.post(f"/api/v1/backtests/{done['id']}/rerun")
        assert rerun.status == 202, await rerun.text()
        again = await settled(api, rerun.headers["Location"])
    assert again["status"] == "succeeded" and again["reproduced"] is True, again
    assert "symbol" not in done["request"] and done["request"]["symbols"] == SYMBOLS
    url = resp.headers["Location"]
    trades = (await (await api.get(f"{url}/trades", params={"limit": 1000})).json())["items"]
    expected = await _reference(pool)
    assert len(trades) == len(expected.trades) > 4
    got = sorted(trades, key=lambda t: (t["entry_time"], t["symbol"]))
    want = sorted(expected.trades, key=lambda t: (t.entry_time, t.symbol))
    for g, w in zip(got, want, strict=True):
        assert g["symbol"] == w.symbol and g["exit_reason"] == w.reason
        assert g["pnl"] == pytest.approx(w.pnl, rel=1e-9, abs=1e-9)
    assert any(t["exit_reason"] == "rebalance" for t in trades)
    equity = (await (await api.get(f"{url}/equity")).json())["items"]
    assert [p["equity"] for p in equity] == pytest.approx(expected.equity, rel=1e-9)
    assert done["metrics"]["final_equity"] == pytest.approx(expected.equity[-1], rel=1e-9)
    assert done["metrics"]["num_trades"] == len(expected.trades)
    per_symbol = done["per_symbol"]
    assert list(per_symbol) == SYMBOLS
    for symbol in SYMBOLS:
        mine = [w for w in expected.trades if w.symbol == symbol]
        assert per_symbol[symbol]["num_trades"] == len(mine)
        assert per_symbol[symbol]["pnl"] == pytest.approx(sum(w.pnl for w in mine), abs=1e-6)
        page = await (await api.get(f"{url}/trades", params={"symbol": symbol.lower()})).json()
        assert page["total"] == len(mine)
        assert {t["symbol"] for t in page["items"]} <= {symbol}
    assert any(w.startswith("XRPUSDT: the data starts") for w in done["warnings"])
    assert set(done["provenance"]["symbols"]) == set(SYMBOLS)
    # Monte Carlo on the portfolio's closed trades' returns on the account's equity.
    closed = [t["pnl"] / w.entry_equity for t, w in zip(got, want, strict=True) if w.exit_time]
    in_order = [t["equity_return"] for t in trades if t["exit_time"] is not None]
    assert sorted(in_order) == pytest.approx(sorted(closed), rel=1e-9)
    expected_mc = resample_trades(np.array(in_order), 10_000.0, 500, 3).as_json()
    for key in ("final_equity", "max_drawdown"):
        assert done["monte_carlo"][key] == pytest.approx(expected_mc[key], rel=1e-12)
    assert done["monte_carlo"]["prob_loss"] == expected_mc["prob_loss"]


async def test_slots_with_trailing_atr_and_time_stops_match_the_slow_loop(
    api: Client, pool: asyncpg.Pool, settings: Settings
) -> None:
    """Slots (K = 2) with a trailing stop, an ATR stop loss and a time stop: the trades the
    API lists are the slow loop's, `trailing_stop` and `time_stop` exits among them."""
    await _store(pool)
    body = {
        **ROTATION,
        "portfolio": {"max_positions": 2, "rank": "roc(close, 24)"},
        "trailing_stop": 0.04,
        "stop_loss": {"atr": 2},
        "max_bars_in_trade": 24,
    }
    done, url = await _succeeded(api, settings, "/api/v1/backtests", body)
    trades = (await (await api.get(f"{url}/trades", params={"limit": 1000})).json())["items"]
    setup = ref.Setup(
        fee_rate=0.001, max_positions=2, trailing_stop=0.04, stop_loss_atr=2.0, max_bars_in_trade=24
    )
    expected = ref.simulate(await _reference_symbols(pool), setup)
    reasons = [t["exit_reason"] for t in trades]
    assert {"trailing_stop", "time_stop", "stop_loss"} <= set(reasons)
    got = sorted(trades, key=lambda t: (t["entry_time"], t["symbol"]))
    want = sorted(expected.trades, key=lambda t: (t.entry_time, t.symbol))
    assert [(g["symbol"], g["exit_reason"]) for g in got] == [(w.symbol, w.reason) for w in want]
    assert [g["pnl"] for g in got] == pytest.approx([w.pnl for w in want], rel=1e-9, abs=1e-9)
    assert done["metrics"]["final_equity"] == pytest.approx(expected.equity[-1], rel=1e-9)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"symbols": []}, "symbols"),
        ({"symbols": [f"S{i}USDT" for i in range(101)]}, "symbols"),
        ({"symbols": ["BTCUSDT", "btcusdt"]}, "symbols.1"),
        ({"symbol": "BTCUSDT"}, "symbol"),
        ({"portfolio": {"rank": "close > open"}}, "portfolio.rank"),
        ({"portfolio": {"rank": "momentum(close)"}}, "portfolio.rank"),
        ({"portfolio": {"max_positions": 0}}, "portfolio.max_positions"),
        ({"portfolio": {"rank": "mark_close / close"}}, "portfolio.rank"),  # spot has no mark
        (
            {
                "symbols": [f"S{i}USDT" for i in range(10)],
                "interval": "1",
                "start": "2015-01-01T00:00:00Z",
                "end": "2025-01-01T00:00:00Z",
            },
            "symbols",
        ),
        ({"symbols": ["BTCUSDT", "DOGEUSDT"]}, "symbols.1"),
        ({"fill_detail": "1"}, "fill_detail"),
    ],
)
async def test_bad_portfolio_requests_are_refused_naming_the_field(
    api: Client, pool: asyncpg.Pool, change: dict[str, Any], field: str
) -> None:
    await _store(pool)
    resp = await api.post("/api/v1/backtests", json={**ROTATION, **change})
    assert resp.status == 422, await resp.text()
    details = (await resp.json())["error"]["details"]
    assert details[0]["field"] == field


async def test_a_grid_over_max_positions_gives_each_sets_portfolio_backtest(
    api: Client, pool: asyncpg.Pool, settings: Settings
) -> None:
    await _store(pool)
    body = {
        "kind": "grid",
        "backtest": ROTATION,
        "param_grid": {"fast": [12, 24], "max_positions": [1, 2, 3]},
        "objective": "total_return",
    }
    done, url = await _succeeded(api, settings, "/api/v1/optimizations", body)
    rows = (await (await api.get(f"{url}/results", params={"limit": 100})).json())["items"]
    assert len(rows) == 6
    spec = BacktestSpec.model_validate(ROTATION)
    async with pool.acquire() as conn:
        series = await load_portfolio_series(conn, spec, 0)
    assert spec.portfolio is not None and spec.portfolio.rebalance is not None
    for row in rows:
        params = row["params"]
        config = dataclasses.replace(spec.config(), params={"fast": params["fast"], "slow": 120})
        rules = PortfolioRules(params["max_positions"], spec.portfolio.rank, "D")
        expected = run_portfolio(series, config, rules)
        assert row["metrics"] == pytest.approx(dict(expected.metrics), rel=1e-12, abs=1e-12)
    assert done["best"]["metrics"]["total_return"] == max(
        r["metrics"]["total_return"] for r in rows
    )
    assert done["robustness"]["trials"] == 6
    assert set(done["provenance"]["symbols"]) == set(SYMBOLS)


async def test_a_grid_over_a_portfolios_trailing_and_time_stops_runs_each_set(
    api: Client, pool: asyncpg.Pool, settings: Settings
) -> None:
    """`trailing_stop` (a fraction or an ATR multiple) and `max_bars_in_trade` as grid axes of
    a slots portfolio: each set's metrics are the portfolio backtest with those stops."""
    await _store(pool)
    slots = {**ROTATION, "portfolio": {"max_positions": 2, "rank": "roc(close, 24)"}}
    body = {
        "kind": "grid",
        "backtest": slots,
        "param_grid": {"trailing_stop": [0.03, {"atr": 3}], "max_bars_in_trade": [12, 48]},
        "objective": "total_return",
    }
    done, url = await _succeeded(api, settings, "/api/v1/optimizations", body)
    rows = (await (await api.get(f"{url}/results", params={"limit": 100})).json())["items"]
    assert len(rows) == 4
    async with pool.acquire() as conn:
        series = await load_portfolio_series(conn, BacktestSpec.model_validate(slots), 0)
    returns = set()
    for row in rows:
        stops = {k: row["params"][k] for k in ("trailing_stop", "max_bars_in_trade")}
        spec = BacktestSpec.model_validate({**slots, **stops})
        expected = run_portfolio(series, spec.config(), PortfolioRules(2, "roc(close, 24)"))
        assert row["metrics"] == pytest.approx(dict(expected.metrics), rel=1e-12, abs=1e-12)
        returns.add(row["metrics"]["total_return"])
    assert len(returns) == 4  # each stop changes the trades
    assert done["best"]["metrics"]["total_return"] == max(returns)


async def test_portfolio_grids_are_refused_where_they_cannot_run(
    api: Client, pool: asyncpg.Pool
) -> None:
    await _store(pool)
    one = {**{k: v for k, v in ROTATION.items() if k not in ("symbols", "portfolio")}}
    one["symbol"] = "BTCUSDT"
    cases = [
        (
            {"kind": "grid", "backtest": one, "param_grid": {"max_positions": [1, 2]}},
            "param_grid.max_positions",
        ),
        (
            {"kind": "grid", "backtest": ROTATION, "param_grid": {"max_positions": [0, 2]}},
            "param_grid.max_positions.0",
        ),
    ]
    for body, field in cases:
        resp = await api.post("/api/v1/optimizations", json=body)
        assert resp.status == 422, await resp.text()
        assert (await resp.json())["error"]["details"][0]["field"] == field


async def test_a_walk_forward_over_a_portfolio_tests_each_windows_best_set(
    api: Client, pool: asyncpg.Pool, settings: Settings
) -> None:
    await _store(pool)
    body = {
        "kind": "walk_forward",
        "backtest": ROTATION,
        "param_grid": {"fast": [12, 24], "max_positions": [1, 2]},
        "objective": "total_return",
        "walk_forward": {"train_bars": 400, "test_bars": 200},
    }
    async with running_engine(settings):
        resp = await api.post("/api/v1/optimizations", json=body)
        assert resp.status == 202, await resp.text()
        done = await settled(api, resp.headers["Location"])
    assert done["status"] == "succeeded", done["error"]
    url = resp.headers["Location"]
    rows = (await (await api.get(f"{url}/results", params={"limit": 100})).json())["items"]
    spec = BacktestSpec.model_validate(ROTATION)
    async with pool.acquire() as conn:
        series = await load_portfolio_series(conn, spec, 0)
    times = traded_times(series)
    windows = (times.size - 400) // 200
    assert len(rows) == windows >= 3
    assert spec.portfolio is not None
    sets = [{"fast": f, "max_positions": k} for f in (12, 24) for k in (1, 2)]

    def metrics_of(params: dict[str, int], first: int, last: int) -> dict[str, Any]:
        config = dataclasses.replace(spec.config(), params={"fast": params["fast"], "slow": 120})
        rules = PortfolioRules(params["max_positions"], spec.portfolio.rank, "D")  # type: ignore[union-attr]
        window = series_between(series, int(times[first]), int(times[last]), 0)
        return dict(run_portfolio(window, config, rules).metrics)

    for row in sorted(rows, key=lambda r: r["window"]):
        k = row["window"]
        train = [metrics_of(p, k * 200, k * 200 + 399) for p in sets]
        returns = [m["total_return"] for m in train]
        best = sets[returns.index(max(returns))]
        assert row["params"] == {**spec.strategy.resolved_params, **best}
        _same_metrics(row["train_metrics"], train[returns.index(max(returns))])
        _same_metrics(row["test_metrics"], metrics_of(best, k * 200 + 400, k * 200 + 599))


def _same_metrics(got: dict[str, Any], expected: dict[str, Any]) -> None:
    assert set(got) == set(expected)
    for key, value in expected.items():
        if value is None:
            assert got[key] is None, key
        else:
            assert got[key] == pytest.approx(value, rel=1e-12, abs=1e-12), key
