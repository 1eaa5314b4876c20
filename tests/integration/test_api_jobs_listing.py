"""Listing jobs (filters, `order_by`), DELETE that cancels or deletes, grid ranges, messages."""

import json
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.support.market import BACKTEST_REQUEST, T0, insert_candles, random_walk

pytestmark = pytest.mark.integration

Client = TestClient[web.Request, web.Application]
BACKTEST = BACKTEST_REQUEST
OPTIMIZATION: dict[str, Any] = {
    "kind": "grid",
    "backtest": {**BACKTEST, "strategy": {"name": "sma_cross"}},
    "param_grid": {"fast": [5, 10], "slow": [30]},
}


@pytest.fixture
async def hourly(pool: asyncpg.Pool) -> None:
    await insert_candles(pool, "linear", "BTCUSDT", "60", random_walk(T0, 500, "60"))
    await insert_candles(pool, "linear", "ETHUSDT", "60", random_walk(T0, 500, "60"))


async def created(api: Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    resp = await api.post(path, json=body)
    assert resp.status == 202, await resp.text()
    job: dict[str, Any] = await resp.json()
    return job


async def error_fields(resp: Any) -> list[str]:
    assert resp.status == 422, await resp.text()
    return [d["field"] for d in (await resp.json())["error"]["details"]]


async def test_backtests_order_by_a_metric_best_first_nulls_last(
    api: Client, pool: asyncpg.Pool, hourly: None
) -> None:
    ids = [(await created(api, "/api/v1/backtests", BACKTEST))["id"] for _ in range(4)]
    finished = {ids[0]: (1.0, 0.3), ids[1]: (None, None), ids[2]: (2.0, 0.1), ids[3]: (0.5, 0.2)}
    for backtest_id, (sharpe, drawdown) in finished.items():
        await pool.execute(
            "UPDATE backtests SET status = 'succeeded', metrics = $2::text::jsonb WHERE id = $1",
            backtest_id,
            json.dumps({"sharpe": sharpe, "max_drawdown": drawdown}),
        )

    async def order(by: str) -> list[str]:
        page = await (await api.get("/api/v1/backtests", params={"order_by": by})).json()
        return [b["id"] for b in page["items"]]

    assert await order("sharpe") == [ids[2], ids[0], ids[3], ids[1]]
    assert await order("max_drawdown") == [ids[2], ids[3], ids[0], ids[1]], "lower is better"
    newest = await (await api.get("/api/v1/backtests")).json()
    assert [b["id"] for b in newest["items"]] == ids[::-1]
    assert "order_by" in await error_fields(
        await api.get("/api/v1/backtests", params={"order_by": "luck"})
    )


async def test_optimizations_are_listed_newest_first_and_filtered(
    api: Client, pool: asyncpg.Pool, hourly: None
) -> None:
    grid = await created(api, "/api/v1/optimizations", OPTIMIZATION)
    eth = {**OPTIMIZATION, "backtest": {**OPTIMIZATION["backtest"], "symbol": "ETHUSDT"}}
    other = await created(api, "/api/v1/optimizations", eth)
    ema = {
        **OPTIMIZATION,
        "kind": "walk_forward",
        "backtest": {**OPTIMIZATION["backtest"], "strategy": {"name": "ema_cross"}},
        "walk_forward": {"train_bars": 100, "test_bars": 50},
    }
    walk = await created(api, "/api/v1/optimizations", ema)
    await pool.execute("UPDATE optimizations SET status = 'failed' WHERE id = $1", grid["id"])

    async def listed(**filters: Any) -> list[str]:
        resp = await api.get("/api/v1/optimizations", params=filters)
        assert resp.status == 200, await resp.text()
        page = await resp.json()
        return [o["id"] for o in page["items"]]

    assert await listed() == [walk["id"], other["id"], grid["id"]]
    page = await (await api.get("/api/v1/optimizations", params={"symbol": "BTCUSDT"})).json()
    assert page["total"] == 2
    assert await listed(limit=1, offset=1) == [other["id"]]
    assert await listed(status="failed") == [grid["id"]]
    assert await listed(kind="walk_forward") == [walk["id"]]
    assert await listed(symbol="ETHUSDT") == [other["id"]]
    assert await listed(strategy="ema_cross") == [walk["id"]]
    assert await listed(strategy="sma_cross", status="queued") == [other["id"]]
    assert "kind" in await error_fields(await api.get("/api/v1/optimizations?kind=random"))


async def test_delete_cancels_a_live_optimization_then_deletes_it_with_its_results(
    api: Client, pool: asyncpg.Pool, hourly: None
) -> None:
    job = await created(api, "/api/v1/optimizations", OPTIMIZATION)
    location = f"/api/v1/optimizations/{job['id']}"
    await pool.execute(
        "INSERT INTO optimization_results VALUES ($1, 'a', $2::text::jsonb)",
        job["id"],
        json.dumps({"params": {"fast": 5, "slow": 30}, "metrics": {"sharpe": 1.0}}),
    )
    cancelled = await api.delete(location)
    assert cancelled.status == 200 and (await cancelled.json())["status"] == "cancelled"
    deleted = await api.delete(location)
    assert deleted.status == 204 and await deleted.read() == b""
    assert (await api.get(location)).status == 404
    assert (await api.delete(location)).status == 404
    assert await pool.fetchval("SELECT count(*) FROM optimization_results") == 0


async def test_param_grid_ranges_expand_and_bad_ones_name_the_parameter(
    api: Client, hourly: None
) -> None:
    ranged = {**OPTIMIZATION, "param_grid": {"fast": {"start": 5, "stop": 15, "step": 5}}}
    job = await created(api, "/api/v1/optimizations", ranged)
    assert job["request"]["param_grid"] == {"fast": [5, 10, 15]}
    assert job["progress"]["total"] == 3
    bad = {**OPTIMIZATION, "param_grid": {"fast": {"start": 5, "stop": 15, "step": 0}}}
    resp = await api.post("/api/v1/optimizations", json=bad)
    assert await error_fields(resp) == ["param_grid.fast"]


async def test_error_messages_carry_no_pydantic_prefix(api: Client, hourly: None) -> None:
    # Both are checked by validators that raise ValueError, which pydantic prefixes.
    for body in ({**BACKTEST, "strategy": {}}, {**BACKTEST, "start": 10**17}):
        resp = await api.post("/api/v1/backtests", json=body)
        assert resp.status == 422, await resp.text()
        error = (await resp.json())["error"]
        texts = [error["message"], *(d["message"] for d in error["details"])]
        assert not any("Value error" in t for t in texts), texts
        assert "out of range" in error["message"] or "give one of" in error["message"], texts
    malformed = await api.post("/api/v1/backtests", data=b"{")
    message = (await malformed.json())["error"]["message"]
    assert malformed.status == 400 and message.startswith("request body is not valid JSON: ")
    assert "Invalid JSON" not in message, message
