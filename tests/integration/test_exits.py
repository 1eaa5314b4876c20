"""Exits through the services: trailing and ATR stops in backtests and grids, and why each
trade ended, checked against the core on the same stored candles."""

import collections
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from domain.backtest import run_backtest
from shared.backtest_spec import BacktestSpec
from shared.market_data import load_candles_warmed
from shared.settings import Settings
from tests.support.market import BACKTEST_REQUEST, T0, insert_candles, random_walk
from tests.support.services import running_engine, settled

pytestmark = pytest.mark.integration

Client = TestClient[web.Request, web.Application]
BACKTEST: dict[str, Any] = {
    **BACKTEST_REQUEST,
    "end": "2024-03-01T00:00:00Z",
    "fee_rate": 0.001,
    "direction": "long_short",
    "warmup_bars": 0,
}
REASONS = {"signal", "stop_loss", "trailing_stop", "take_profit", "end"}


async def core_result(pool: asyncpg.Pool, request: dict[str, Any]) -> Any:
    spec = BacktestSpec.model_validate(request)
    async with pool.acquire() as conn:
        candles = await load_candles_warmed(
            conn, spec.category, spec.symbol, spec.interval, spec.start, spec.end, 0
        )
    return run_backtest(candles, spec)


async def test_a_trailing_atr_stop_through_the_queue_says_why_each_trade_ended(
    api: Client, pool: asyncpg.Pool, settings: Settings
) -> None:
    await insert_candles(pool, "linear", "BTCUSDT", "60", random_walk(T0, 1500, "60"))
    request = {**BACKTEST, "trailing_stop": {"atr": 1.5}, "stop_loss": 0.03, "atr_period": 10}
    async with running_engine(settings):
        resp = await api.post("/api/v1/backtests", json=request)
        assert resp.status == 202, await resp.text()
        done = await settled(api, resp.headers["Location"])
    assert done["status"] == "succeeded", done["error"]
    assert done["request"]["trailing_stop"] == {"atr": 1.5}
    trades = (
        await (await api.get(f"{resp.headers['Location']}/trades", params={"limit": 1000})).json()
    )["items"]
    reasons = collections.Counter(t["exit_reason"] for t in trades)
    assert set(reasons) <= REASONS and reasons["trailing_stop"] > 0
    assert done["exit_counts"] == dict(reasons)
    expected = await core_result(pool, request)
    assert [t["exit_reason"] for t in trades] == [
        r["exit_reason"] for r in expected.trades.records()
    ]
    assert done["metrics"] == pytest.approx(dict(expected.metrics), rel=1e-12)


async def test_a_grid_varies_the_exit_with_the_strategy(
    api: Client, pool: asyncpg.Pool, settings: Settings
) -> None:
    await insert_candles(pool, "linear", "BTCUSDT", "60", random_walk(T0, 1500, "60"))
    grid = {"fast": [3, 5], "trailing_stop": [0.02, 0.05, {"atr": 2}]}
    body = {"kind": "grid", "backtest": BACKTEST, "param_grid": grid, "objective": "sharpe"}
    bad = await api.post(
        "/api/v1/optimizations",
        json={**body, "param_grid": {"trailing_stop": [0.02, 1.5]}},
    )
    assert bad.status == 422
    assert (await bad.json())["error"]["details"][0]["field"] == "param_grid.trailing_stop.1"
    async with running_engine(settings):
        resp = await api.post("/api/v1/optimizations", json=body)
        assert resp.status == 202, await resp.text()
        done = await settled(api, resp.headers["Location"])
    assert done["status"] == "succeeded", done["error"]
    rows = (
        await (await api.get(f"{resp.headers['Location']}/results", params={"limit": 100})).json()
    )["items"]
    assert len(rows) == 6
    for row in rows:
        stop = row["params"]["trailing_stop"]
        request = {
            **BACKTEST,
            "strategy": {
                "name": "sma_cross",
                "params": {"fast": row["params"]["fast"], "slow": 20},
            },
            "trailing_stop": stop,
        }
        expected = await core_result(pool, request)
        assert row["metrics"] == pytest.approx(dict(expected.metrics), rel=1e-9, abs=1e-12), stop
