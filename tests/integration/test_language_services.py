"""The language's additions through the services: a rule with htf, ADX, the hour, the funding
rate and a size rule runs in a backtest, a grid and a walk-forward, the grid agreeing with
the backtest; what the market cannot serve is a 422 naming the rule."""

from typing import Any

import asyncpg
import numpy as np
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from services.ingest.kline_store import Series
from services.ingest.perpetual_pages import Fundings
from services.ingest.perpetual_store import store_fundings
from shared.settings import Settings
from tests.support.market import FUNDING_INTERVAL_MS, insert_candles, random_walk
from tests.support.services import running_engine, settled

pytestmark = pytest.mark.integration

Client = TestClient[web.Request, web.Application]
T0 = 1_704_067_200_000
BARS = 2000
RANGE = {
    "category": "linear",
    "symbol": "BTCUSDT",
    "interval": "60",
    "start": "2024-01-05T00:00:00Z",
    "end": "2024-03-20T00:00:00Z",
    "fee_rate": 0.001,
    "direction": "long_short",
}
LANGUAGE: dict[str, Any] = {
    "params": {"fast": {"type": "int", "default": 10, "minimum": 2, "maximum": 100}},
    "long_entry": 'ema(close, fast) > ema(close, 3 * fast) and htf(close > sma(close, 5), "240")'
    " and adx(14) > 10 and funding_rate < 0.0002",
    "short_entry": "ema(close, fast) < ema(close, 3 * fast) and hour >= 2",
    "size": "min(1, 0.005 / stdev(roc(close, 1), round(fast * 1.5)))",
}


@pytest.fixture
async def market(pool: asyncpg.Pool) -> None:
    candles = random_walk(T0, BARS, "60", seed=5)
    await insert_candles(pool, "linear", "BTCUSDT", "60", candles, fundings=False)
    times = np.arange(T0, T0 + BARS * 3_600_000, FUNDING_INTERVAL_MS, dtype=np.int64)
    rates = 0.0003 * np.sin(np.arange(times.size) / 5)
    async with pool.acquire() as conn:
        await store_fundings(conn, Series("linear", "BTCUSDT", "60"), Fundings(times, rates), [])


async def accepted(api: Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    resp = await api.post(path, json=body)
    assert resp.status == 202, await resp.text()
    done = await settled(api, resp.headers["Location"])
    assert done["status"] == "succeeded", done["error"]
    return {"location": resp.headers["Location"], **done}


@pytest.mark.usefixtures("market")
async def test_the_new_language_runs_in_backtests_grids_and_walk_forward(
    api: Client, settings: Settings
) -> None:
    strategy = {"definition": LANGUAGE, "params": {"fast": 8}}
    optimization = {"backtest": {**RANGE, "strategy": {"definition": LANGUAGE}}}
    async with running_engine(settings):
        single = await accepted(api, "/api/v1/backtests", {**RANGE, "strategy": strategy})
        grid = await accepted(
            api,
            "/api/v1/optimizations",
            {**optimization, "kind": "grid", "param_grid": {"fast": [4, 8, 12]}},
        )
        walk = await accepted(
            api,
            "/api/v1/optimizations",
            {
                **optimization,
                "kind": "walk_forward",
                "param_grid": {"fast": [4, 8]},
                "walk_forward": {"train_bars": 600, "test_bars": 300},
            },
        )
    assert single["metrics"]["num_trades"] > 3
    assert single["metrics"]["funding_paid"] != 0
    rows = await (await api.get(f"{grid['location']}/results", params={"limit": 100})).json()
    row = next(r for r in rows["items"] if r["params"] == {"fast": 8})
    for name, value in single["metrics"].items():
        if name in row["metrics"] and isinstance(value, float):
            assert row["metrics"][name] == pytest.approx(value, rel=1e-9, abs=1e-12), name
    assert row["metrics"]["num_trades"] == single["metrics"]["num_trades"]
    assert walk["walk_forward"]["windows"] >= 2


@pytest.mark.parametrize(
    ("change", "rule", "says"),
    [
        ({"category": "spot"}, "funding_rate > 0", "funding_rate exists for perpetuals"),
        ({"funding": False}, "funding_rate > 0", 'funding_rate needs "funding": true'),
        ({}, 'close > htf(close, "45")', "must be a Bybit interval in quotes"),
        ({}, 'close > htf(close, "30")', 'the interval "30" of htf must be longer'),
        ({}, 'htf(htf(close, "D"), "W") > 0', "htf inside htf is not allowed (column 1)"),
        ({}, "sma(close, 7 / 2) > 0", "must be an integer in 1..10000"),
        ({}, "where(close > open, 1, 0) > 0", "unknown function 'where'; known: sma"),
        ({}, "close > fundingrate", "known: open, high, low, close"),
    ],
)
async def test_what_the_request_cannot_serve_is_a_422_at_the_rule(
    api: Client, change: dict[str, Any], rule: str, says: str
) -> None:
    body = {**RANGE, **change, "strategy": {"definition": {"long_entry": rule}}}
    resp = await api.post("/api/v1/backtests", json=body)
    assert resp.status == 422, await resp.text()
    detail = (await resp.json())["error"]["details"][0]
    assert detail["field"] == "strategy.definition.long_entry"
    assert says in detail["message"]
