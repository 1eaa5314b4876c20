"""Perpetual backtests through the services: leverage, funding and liquidation on stored mark
prices and fundings, the request's resolved fields, the API's 422s, and a grid over leverage,
each checked against the core on the same stored data."""

from typing import Any

import asyncpg
import numpy as np
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from domain.backtest import run_backtest
from domain.market.candles import Candles
from services.engine.optimization.in_pool import set_config
from services.engine.perp_market_loading import load_perp_market
from services.ingest.kline_store import MARK_PRICE_KLINES, Series, store
from services.ingest.perpetual_pages import Fundings
from services.ingest.perpetual_store import store_fundings
from shared.backtest_spec import BacktestSpec
from shared.market_data import load_candles_warmed
from shared.settings import Settings
from tests.support.market import BACKTEST_REQUEST, T0, insert_candles, random_walk
from tests.support.services import running_engine, settled

pytestmark = pytest.mark.integration

Client = TestClient[web.Request, web.Application]
HOUR = 3_600_000
BARS = 1500
# Two months of the hourly candles, long and short with a fifth of the equity as margin.
BACKTEST: dict[str, Any] = {
    **BACKTEST_REQUEST,
    "end": "2024-03-01T00:00:00Z",
    "direction": "long_short",
    "position_size": 0.2,
    "warmup_bars": 0,
}


def marked(candles: Candles) -> Candles:
    """A mark a few basis points off the last price, its lows now and then well below."""
    rng = np.random.default_rng(11)
    basis = 1 + rng.normal(0, 0.0005, len(candles))
    dips = 1 - np.where(rng.random(len(candles)) < 0.05, 0.01, 0.0)
    zeros = np.zeros(len(candles))
    return Candles(
        candles.open_time,
        candles.open * basis,
        candles.high * basis,
        candles.low * basis * dips,
        candles.close * basis,
        zeros,
        zeros,
    )


@pytest.fixture
async def perpetual(pool: asyncpg.Pool) -> None:
    """BTCUSDT's candles, mark prices, fundings every 8 h (some negative) and limits: at most
    25x, a lowest-risk tier's maintenance margin of 1%; ETHUSDT's candles without fundings."""
    candles = random_walk(T0, BARS, "60")
    await insert_candles(pool, "linear", "BTCUSDT", "60", candles, fundings=False)
    await insert_candles(pool, "linear", "ETHUSDT", "60", candles, fundings=False)
    await insert_candles(pool, "spot", "BTCUSDT", "60", candles)
    times = T0 + 8 * HOUR * np.arange(BARS // 8, dtype=np.int64)
    rates = np.random.default_rng(5).normal(0.0001, 0.0003, times.size)
    series = Series("linear", "BTCUSDT", "60")
    async with pool.acquire() as conn:
        await store(conn, series, marked(candles), [], [], None, MARK_PRICE_KLINES)
        await store_fundings(conn, series, Fundings(times, rates), [])
        await conn.execute(
            """INSERT INTO instruments (category, symbol, funding_interval, min_leverage,
                                        max_leverage, leverage_step)
               VALUES ('linear', 'BTCUSDT', 480, 1, 25, 0.01)"""
        )
        await conn.execute(
            """INSERT INTO risk_limit_tiers (category, symbol, tier_id, risk_limit_value,
                   maintenance_margin, initial_margin, is_lowest_risk, max_leverage, mm_deduction)
               VALUES ('linear', 'BTCUSDT', 1, 2000000, 0.01, 0.04, true, 25, 0),
                      ('linear', 'BTCUSDT', 2, 4000000, 0.015, 0.05, false, 20, 10000)"""
        )


async def core_result(pool: asyncpg.Pool, request: dict[str, Any], params: Any = None) -> Any:
    """The core on the stored candles, mark prices and fundings the engine reads."""
    spec = BacktestSpec.model_validate(request)
    async with pool.acquire() as conn:
        candles = await load_candles_warmed(
            conn, spec.category, spec.symbol, spec.interval, spec.start, spec.end, 0
        )
        market = await load_perp_market(conn, spec, candles)
    config = spec.config()
    if params is not None:
        config = set_config(config, params)
    return run_backtest(candles, config, market=market)


def same_metrics(got: dict[str, Any], expected: dict[str, Any]) -> bool:
    """Equal to rounding where defined, null where undefined."""
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        if value is None:
            assert got[key] is None, key
        else:
            assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
    return True


async def succeeded(
    api: Client, settings: Settings, jobs: str, body: dict[str, Any], items: str = "trades"
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """POST the job, run an engine until it settles; the job and its trades (or results)."""
    async with running_engine(settings):
        resp = await api.post(f"/api/v1/{jobs}", json=body)
        assert resp.status == 202, await resp.text()
        done = await settled(api, resp.headers["Location"])
    assert done["status"] == "succeeded", done["error"]
    page = await api.get(f"{resp.headers['Location']}/{items}", params={"limit": 1000})
    return done, (await page.json())["items"]


async def error_field(resp: Any) -> str:
    assert resp.status == 422, await resp.text()
    return str((await resp.json())["error"]["details"][0]["field"])


async def test_a_leveraged_funded_backtest_through_the_queue(
    api: Client, pool: asyncpg.Pool, settings: Settings, perpetual: None
) -> None:
    done, trades = await succeeded(api, settings, "backtests", {**BACKTEST, "leverage": 20})
    stored = done["request"]
    # The stored request holds the resolved values: the tier's maintenance margin rate.
    assert (stored["leverage"], stored["funding"], stored["maintenance_margin_rate"]) == (
        20.0,
        True,
        0.01,
    )
    metrics = done["metrics"]
    assert (
        metrics["liquidations"] >= 1
        and done["exit_counts"]["liquidation"] == (metrics["liquidations"])
    )
    assert metrics["funding_paid"] != 0.0
    assert sum(t["funding"] for t in trades) == pytest.approx(metrics["funding_paid"], rel=1e-9)
    expected = await core_result(pool, stored)
    assert same_metrics(metrics, dict(expected.metrics))
    assert [t["exit_reason"] for t in trades] == expected.trades.frame()["exit_reason"].to_list()
    assert [t["funding"] for t in trades] == pytest.approx(expected.trades.funding.tolist())
    # Liquidations close at the bankruptcy price, with no fee on the exit.
    liquidated = [t for t in trades if t["exit_reason"] == "liquidation"]
    for t in liquidated:
        side = 1 if t["side"] == "long" else -1
        assert t["exit_price"] == pytest.approx(t["entry_price"] * (1 - side / 20), rel=1e-12)
    # Without funding and leverage the same request is the spot-like run.
    plain = await core_result(pool, {**stored, "leverage": 1, "funding": False})
    assert plain.metrics["funding_paid"] == 0.0 and plain.metrics["liquidations"] == 0


async def test_perpetual_fields_refused_with_the_field_named(api: Client, perpetual: None) -> None:
    post = api.post
    assert await error_field(
        await post("/api/v1/backtests", json={**BACKTEST, "leverage": 30})
    ) == ("leverage")
    assert await error_field(
        await post("/api/v1/backtests", json={**BACKTEST, "leverage": 101})
    ) == ("leverage")
    spot = {**BACKTEST, "category": "spot", "leverage": 2}
    assert await error_field(await post("/api/v1/backtests", json=spot)) == "leverage"
    spot_funding = {**BACKTEST, "category": "spot", "funding": True}
    assert await error_field(await post("/api/v1/backtests", json=spot_funding)) == "funding"
    eth = {**BACKTEST, "symbol": "ETHUSDT"}
    assert await error_field(await post("/api/v1/backtests", json=eth)) == "funding"
    mmr = {**BACKTEST, "maintenance_margin_rate": 0.6}
    assert await error_field(await post("/api/v1/backtests", json=mmr)) == "maintenance_margin_rate"
    accepted = await post("/api/v1/backtests", json={**eth, "funding": False, "leverage": 50})
    assert accepted.status == 202, await accepted.text()
    assert (await accepted.json())["request"]["maintenance_margin_rate"] == 0.005  # no tier
    grid = {"kind": "grid", "backtest": BACKTEST, "param_grid": {"leverage": [5, 40]}}
    assert await error_field(await post("/api/v1/optimizations", json=grid)) == (
        "param_grid.leverage.1"
    )
    spot_grid = {**grid, "backtest": {**BACKTEST, "category": "spot"}}
    spot_grid["param_grid"] = {"leverage": [1, 2]}
    assert await error_field(await post("/api/v1/optimizations", json=spot_grid)) == (
        "param_grid.leverage"
    )
    search = {"kind": "bayes", "backtest": BACKTEST, "search": {"trials": 10}}
    for space, field in (
        ({"leverage": {"low": 2, "high": 40}}, "param_space.leverage.high"),
        ({"leverage": [5, 10, 30]}, "param_space.leverage.2"),
    ):
        body = {**search, "param_space": space}
        assert await error_field(await post("/api/v1/optimizations", json=body)) == field
    within = {**search, "param_space": {"leverage": {"low": 2, "high": 25}}}
    assert (await post("/api/v1/optimizations", json=within)).status == 202


async def test_a_grid_over_leverage_equals_each_backtest(
    api: Client, pool: asyncpg.Pool, settings: Settings, perpetual: None
) -> None:
    grid = {"leverage": [1, 5, 20], "fast": [5, 8]}
    body = {"kind": "grid", "backtest": BACKTEST, "param_grid": grid}
    done, rows = await succeeded(api, settings, "optimizations", body, "results")
    assert len(rows) == 6
    stored = done["request"]["backtest"]
    for row in rows:
        expected = await core_result(pool, stored, row["params"])
        assert same_metrics(row["metrics"], dict(expected.metrics))
    by_leverage = {row["params"]["leverage"]: row["metrics"] for row in rows}
    assert by_leverage[1.0]["liquidations"] == 0 and by_leverage[20.0]["liquidations"] >= 1


async def test_an_inverse_backtest_is_in_coin_through_the_queue(
    api: Client, pool: asyncpg.Pool, settings: Settings
) -> None:
    await insert_candles(pool, "inverse", "BTCUSD", "60", random_walk(T0, BARS, "60", seed=3))
    request = {**BACKTEST, "category": "inverse", "symbol": "BTCUSD", "initial_capital": 1.0}
    done, trades = await succeeded(api, settings, "backtests", {**request, "leverage": 5})
    expected = await core_result(pool, done["request"])
    assert same_metrics(done["metrics"], dict(expected.metrics))
    closed = [t for t in trades if t["exit_time"] is not None]
    assert closed
    for t in closed:
        side = 1 if t["side"] == "long" else -1
        gain = side * t["qty"] * (1 / t["entry_price"] - 1 / t["exit_price"])
        assert t["pnl"] == pytest.approx(gain - t["fees"] - t["funding"], rel=1e-9, abs=1e-15)
        assert t["return"] == pytest.approx(t["pnl"] / (t["qty"] / t["entry_price"]), rel=1e-12)
    final = done["metrics"]["final_equity"]
    assert final == pytest.approx(1.0 + sum(t["pnl"] for t in trades), rel=1e-9)


async def test_a_walk_forward_s_stitched_counts_and_sums_are_its_windows_totals(
    api: Client, settings: Settings, perpetual: None
) -> None:
    # Issue 20: the stitched out-of-sample funding_paid was 0.0 while the windows paid.
    body = {
        "kind": "walk_forward",
        "backtest": {**BACKTEST, "leverage": 5},
        "param_grid": {"fast": [5, 8], "slow": [30]},
        "objective": "calmar",
        "walk_forward": {"train_bars": 400, "test_bars": 300},
    }
    done, windows = await succeeded(api, settings, "optimizations", body, "results")
    assert done["strategy_name"] == "sma_cross"
    chained = done["walk_forward"]["test_metrics"]
    tests = [w["test_metrics"] for w in windows]
    assert len(tests) == done["walk_forward"]["windows"] >= 3
    assert chained["funding_paid"] != 0.0
    for key in ("num_trades", "liquidations", "long_trades", "short_trades"):
        assert chained[key] == sum(t[key] for t in tests), key
    for key in ("funding_paid", "fees_paid", "long_pnl", "short_pnl"):
        assert chained[key] == pytest.approx(sum(t[key] for t in tests), rel=1e-12), key
    growth = np.prod([1 + t["benchmark_return"] for t in tests])
    assert chained["benchmark_return"] == pytest.approx(growth - 1, rel=1e-12)
    by_window = sorted(windows, key=lambda w: w["window"])
    assert [w["window"] for w in by_window] == list(range(len(windows)))
