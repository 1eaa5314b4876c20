"""Every resource route of the API: happy paths, pagination, and each class of bad input."""

from typing import Any

import asyncpg
import numpy as np
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.support.market import BACKTEST_REQUEST, T0, insert_candles, random_walk

pytestmark = pytest.mark.integration

Client = TestClient[web.Request, web.Application]
HOUR = 3_600_000
BACKTEST = BACKTEST_REQUEST


@pytest.fixture
async def hourly(pool: asyncpg.Pool) -> None:
    await insert_candles(pool, "linear", "BTCUSDT", "60", random_walk(T0, 500, "60"))


async def error_of(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    error: dict[str, Any] = (await resp.json())["error"]
    assert set(error) == {"code", "message", "details"}
    return error


def fields(error: dict[str, Any]) -> list[str]:
    return [d["field"] for d in error["details"]]


async def test_klines_are_numbers_oldest_first_and_paged(api: Client, hourly: None) -> None:
    query: dict[str, Any] = {
        "category": "linear",
        "symbol": "BTCUSDT",
        "interval": "60",
        "start": T0,
        "end": T0 + 99 * HOUR,
    }
    page = await (
        await api.get("/api/v1/klines", params={**query, "limit": 30, "offset": 10})
    ).json()
    assert page["total"] == 100 and len(page["items"]) == 30
    first = page["items"][0]
    assert first["open_time"] == "2024-01-01T10:00:00Z"
    assert all(
        isinstance(first[k], float) for k in ("open", "high", "low", "close", "volume", "turnover")
    )
    times = [c["open_time"] for c in page["items"]]
    assert times == sorted(times)
    bad = await api.get("/api/v1/klines", params={**query, "interval": "7"})
    assert "interval" in fields(await error_of(bad, 422))
    bad = await api.get("/api/v1/klines", params={**query, "limit": 1001})
    assert "limit" in fields(await error_of(bad, 422))


async def test_symbols_show_coverage_and_gaps(
    api: Client, pool: asyncpg.Pool, hourly: None
) -> None:
    await pool.execute(
        """INSERT INTO kline_gaps (category, symbol, interval, gap_start, gap_end)
           VALUES ('linear', 'BTCUSDT', '60', '2024-02-01', '2024-02-01 03:00')"""
    )
    body = await (await api.get("/api/v1/symbols")).json()
    assert body["total"] == 1
    (series,) = body["items"]
    assert series["count"] == 500 and series["first_open_time"] == "2024-01-01T00:00:00Z"
    assert series["gaps"] == [{"start": "2024-02-01T00:00:00Z", "end": "2024-02-01T03:00:00Z"}]


async def test_backfills_are_queued_listed_and_read(api: Client) -> None:
    resp = await api.post(
        "/api/v1/backfills",
        json={
            "category": "linear",
            "symbol": "BTCUSDT",
            "interval": "1",
            "start": "2024-01-01",
            "end": T0 + HOUR,
        },
    )
    assert resp.status == 202
    created = await resp.json()
    assert resp.headers["Location"] == f"/api/v1/backfills/{created['id']}"
    assert created["status"] == "queued" and created["rows"] == 0 and created["progress"] == 0
    one = await (await api.get(resp.headers["Location"])).json()
    assert one["id"] == created["id"] and one["end"] == "2024-01-01T01:00:00Z"
    listed = await (await api.get("/api/v1/backfills")).json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == created["id"]
    await error_of(await api.get("/api/v1/backfills/not-a-uuid"), 404)
    await error_of(await api.get("/api/v1/backfills/00000000-0000-0000-0000-000000000000"), 404)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"start": "2024-01-02", "end": "2024-01-01"}, "start"),
        ({"interval": "2"}, "interval"),
        ({"category": "futures"}, "category"),
        ({"symbol": "btc-usdt"}, "symbol"),  # symbols are case-insensitive, not free text
        ({"start": True}, "start"),
        ({"start": 10**20}, "start"),
        ({"extra": 1}, "extra"),
    ],
)
async def test_bad_backfills_name_the_field(api: Client, body: dict[str, Any], field: str) -> None:
    valid = {
        "category": "linear",
        "symbol": "BTCUSDT",
        "interval": "1",
        "start": T0,
        "end": T0 + HOUR,
    }
    error = await error_of(await api.post("/api/v1/backfills", json={**valid, **body}), 422)
    assert field in fields(error)


async def test_malformed_json_is_a_400(api: Client) -> None:
    resp = await api.post(
        "/api/v1/backtests", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert (await error_of(resp, 400))["code"] == "malformed_request"


async def test_strategies_builtin_and_saved(api: Client) -> None:
    listed = await (await api.get("/api/v1/strategies")).json()
    builtins = {s["name"]: s for s in listed["items"] if s["kind"] == "builtin"}
    assert set(builtins) == {
        "sma_cross",
        "ema_cross",
        "macd",
        "rsi_reversion",
        "bollinger_reversion",
        "donchian_breakout",
    }
    fast = next(p for p in builtins["sma_cross"]["params"] if p["name"] == "fast")
    assert fast["type"] == "int" and fast["default"] == 10
    resp = await api.post(
        "/api/v1/strategies", json={"name": "quick", "strategy": "sma_cross", "params": {"fast": 3}}
    )
    assert resp.status == 201
    saved = await resp.json()
    assert saved["params"] == {"fast": 3, "slow": 30} and saved["kind"] == "preset"
    dup = await api.post("/api/v1/strategies", json={"name": "quick", "strategy": "ema_cross"})
    assert (await error_of(dup, 409))["code"] == "conflict"
    bad = await api.post(
        "/api/v1/strategies", json={"name": "x", "strategy": "sma_cross", "params": {"fast": 50}}
    )
    assert "params.fast" in fields(await error_of(bad, 422))
    unknown = await api.post("/api/v1/strategies", json={"name": "y", "strategy": "moon"})
    assert "strategy" in fields(await error_of(unknown, 422))
    assert (await (await api.get(f"/api/v1/strategies/{saved['id']}")).json())["name"] == "quick"
    assert (await api.get("/api/v1/strategies")).status == 200
    assert (await api.delete(f"/api/v1/strategies/{saved['id']}")).status == 204
    await error_of(await api.get(f"/api/v1/strategies/{saved['id']}"), 404)


async def test_backtest_lifecycle_through_the_api(
    api: Client, pool: asyncpg.Pool, hourly: None
) -> None:
    resp = await api.post("/api/v1/backtests", json=BACKTEST)
    assert resp.status == 202
    created = await resp.json()
    assert created["status"] == "queued"
    request = created["request"]
    assert request["fee_rate"] == 0.00055 and request["direction"] == "long_only"
    assert request["fill"] == "next_open" and request["position_size"] == 1.0
    assert request["strategy"] == {"name": "sma_cross", "params": {"fast": 5, "slow": 20}}
    location = resp.headers["Location"]
    assert (await (await api.get(location)).json())["id"] == created["id"]
    assert (
        await pool.fetchval("SELECT count(*) FROM outbox WHERE message_type = 'RunBacktest'") == 1
    )

    # Results as the engine writes them: trades and a compact equity curve.
    await pool.execute(
        """INSERT INTO trades VALUES
               ($1, 0, 'long', '2024-01-02', 100, '2024-01-03', 110, 2, 19, 0.095, 1),
               ($1, 1, 'short', '2024-01-04', 110, NULL, NULL, 1, -1, -0.01, 0.5)""",
        created["id"],
    )
    times = (T0 + HOUR * np.arange(200)).astype("<i8")
    values = (10_000 + np.arange(200.0)).astype("<f8")
    await pool.execute(
        "INSERT INTO equity VALUES ($1, 200, $2, $3)",
        created["id"],
        times.tobytes(),
        values.tobytes(),
    )
    trades = await (await api.get(f"{location}/trades")).json()
    assert trades["total"] == 2
    assert trades["items"][0]["return"] == 0.095 and trades["items"][1]["exit_time"] is None
    full = await (await api.get(f"{location}/equity")).json()
    assert full["total"] == 200 and len(full["items"]) == 200
    small = await (await api.get(f"{location}/equity", params={"points": 10})).json()
    assert len(small["items"]) == 10
    first = {"time": "2024-01-01T00:00:00Z", "equity": 10_000.0, "drawdown": 0.0}
    assert small["items"][0] == first
    assert small["items"][-1]["equity"] == 10_199.0
    assert "points" in fields(
        await error_of(await api.get(f"{location}/equity", params={"points": 1}), 422)
    )

    cancelled = await api.delete(location)
    assert cancelled.status == 200 and (await cancelled.json())["status"] == "cancelled"
    assert (await api.delete(location)).status == 204
    await error_of(await api.get(location), 404)
    assert await pool.fetchval("SELECT count(*) FROM trades") == 0


async def test_backtests_list_filters_and_pages(api: Client, hourly: None) -> None:
    for fast in (3, 4, 5):
        strategy = {"name": "sma_cross", "params": {"fast": fast, "slow": 20}}
        assert (
            await api.post("/api/v1/backtests", json={**BACKTEST, "strategy": strategy})
        ).status == 202
    ema = {**BACKTEST, "strategy": {"name": "ema_cross"}}
    assert (await api.post("/api/v1/backtests", json=ema)).status == 202
    everything = await (await api.get("/api/v1/backtests", params={"limit": 2})).json()
    assert everything["total"] == 4 and len(everything["items"]) == 2
    assert everything["items"][0]["request"]["strategy"]["name"] == "ema_cross", "newest first"
    smas = await (await api.get("/api/v1/backtests", params={"strategy": "sma_cross"})).json()
    assert smas["total"] == 3
    none = await (await api.get("/api/v1/backtests", params={"status": "running"})).json()
    assert none["total"] == 0
    bad = await api.get("/api/v1/backtests", params={"status": "sleeping"})
    assert "status" in fields(await error_of(bad, 422))


async def test_backtest_with_a_saved_strategy(api: Client, hourly: None) -> None:
    saved = await (
        await api.post(
            "/api/v1/strategies", json={"name": "s", "strategy": "ema_cross", "params": {"fast": 7}}
        )
    ).json()
    created = await (
        await api.post("/api/v1/backtests", json={**BACKTEST, "strategy": {"id": saved["id"]}})
    ).json()
    assert created["request"]["strategy"] == {
        "name": "ema_cross",
        "params": {"fast": 7, "slow": 26},
        "saved_as": "s",
    }
    assert created["strategy_name"] == "s"
    by_name = {**BACKTEST, "strategy": {"name": "s"}}
    assert (await api.post("/api/v1/backtests", json=by_name)).status == 202
    listed = await (await api.get("/api/v1/backtests", params={"strategy": "s"})).json()
    assert listed["total"] == 2 and {b["strategy_name"] for b in listed["items"]} == {"s"}
    missing = {**BACKTEST, "strategy": {"id": "00000000-0000-0000-0000-000000000000"}}
    assert "strategy.id" in fields(
        await error_of(await api.post("/api/v1/backtests", json=missing), 422)
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"strategy": {"name": "moon"}}, "strategy.name"),
        ({"strategy": {"name": "sma_cross", "params": {"fast": "ten"}}}, "strategy.params.fast"),
        ({"strategy": {"name": "sma_cross", "params": {"fast": 40}}}, "strategy.params.fast"),
        ({"strategy": {"name": "sma_cross", "params": {"speed": 1}}}, "strategy.params.speed"),
        ({"initial_capital": 0}, "initial_capital"),
        ({"fee_rate": 0.2}, "fee_rate"),
        ({"slippage_bps": -1}, "slippage_bps"),
        ({"position_size": 1.5}, "position_size"),
        ({"stop_loss": 1}, "stop_loss"),
        ({"take_profit": 0}, "take_profit"),
        ({"direction": "sideways"}, "direction"),
        ({"fill": "later"}, "fill"),
        ({"interval": "7"}, "interval"),
        ({"start": "2024-01-10T00:00:00Z", "end": "2024-01-01T00:00:00Z"}, "start"),
        ({"start": "2023-01-01T00:00:00Z", "end": "2023-02-01T00:00:00Z"}, "start"),
        ({"symbol": "ETHUSDT"}, "start"),
        ({"initial_capital": "lots"}, "initial_capital"),
    ],
)
async def test_bad_backtests_are_422_naming_the_field(
    api: Client, hourly: None, change: dict[str, Any], field: str
) -> None:
    error = await error_of(await api.post("/api/v1/backtests", json={**BACKTEST, **change}), 422)
    assert field in fields(error), error


async def test_nan_and_infinity_are_422_naming_the_field(api: Client, hourly: None) -> None:
    for literal in ("NaN", "Infinity", "-Infinity"):
        body = '{"category": "linear", "symbol": "BTCUSDT", "interval": "60", "start": 0, "end": 1,'
        body += f' "strategy": {{"name": "sma_cross"}}, "initial_capital": {literal}}}'
        resp = await api.post(
            "/api/v1/backtests", data=body, headers={"Content-Type": "application/json"}
        )
        assert "initial_capital" in fields(await error_of(resp, 422)), literal


OPTIMIZATION: dict[str, Any] = {
    "kind": "grid",
    "backtest": {**BACKTEST, "strategy": {"name": "sma_cross"}},
    "param_grid": {"fast": [5, 10, 20], "slow": [10, 30]},
    "objective": "sharpe",
}


async def test_optimization_lifecycle(api: Client, pool: asyncpg.Pool, hourly: None) -> None:
    resp = await api.post("/api/v1/optimizations", json=OPTIMIZATION)
    assert resp.status == 202
    created = await resp.json()
    assert created["progress"] == {"done": 0, "total": 4} and created["skipped"] == 2
    location = resp.headers["Location"]
    for key, sharpe in (("a", 1.5), ("b", None), ("c", 2.5)):
        row = {
            "params": {"fast": 1},
            "metrics": {"sharpe": sharpe, "max_drawdown": 0.1 if sharpe else 0.3},
        }
        await pool.execute(
            "INSERT INTO optimization_results VALUES ($1, $2, $3::text::jsonb)",
            created["id"],
            key,
            __import__("json").dumps(row),
        )
    ranked = await (await api.get(f"{location}/results")).json()
    assert [r["metrics"]["sharpe"] for r in ranked["items"]] == [2.5, 1.5, None]
    by_drawdown = await (
        await api.get(f"{location}/results", params={"order_by": "max_drawdown"})
    ).json()
    assert [r["metrics"]["max_drawdown"] for r in by_drawdown["items"]] == [0.1, 0.1, 0.3]
    bad = await api.get(f"{location}/results", params={"order_by": "luck"})
    assert "order_by" in fields(await error_of(bad, 422))
    cancelled = await (await api.delete(location)).json()
    assert cancelled["status"] == "cancelled"
    await error_of(await api.get("/api/v1/optimizations/00000000-0000-0000-0000-000000000000"), 404)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"param_grid": {}}, "param_grid"),
        ({"param_grid": {"fast": []}}, "param_grid.fast"),
        ({"param_grid": {"speed": [1]}}, "param_grid.speed"),
        ({"param_grid": {"fast": [5, 0]}}, "param_grid.fast.1"),
        ({"param_grid": {"fast": [40], "slow": [30]}}, "param_grid"),
        ({"objective": "luck"}, "objective"),
        ({"kind": "walk_forward"}, "walk_forward"),
        (
            {"kind": "walk_forward", "walk_forward": {"train_bars": 400, "test_bars": 200}},
            "walk_forward.train_bars",
        ),
    ],
)
async def test_bad_optimizations_are_422_naming_the_field(
    api: Client, hourly: None, change: dict[str, Any], field: str
) -> None:
    error = await error_of(
        await api.post("/api/v1/optimizations", json={**OPTIMIZATION, **change}), 422
    )
    assert field in fields(error), error


async def test_walk_forward_counts_its_windows(api: Client, hourly: None) -> None:
    # 9 days of hourly bars in the range: 217 bars; windows of 100 train + 50 test: 3 fit.
    body = {
        **OPTIMIZATION,
        "kind": "walk_forward",
        "walk_forward": {"train_bars": 100, "test_bars": 39},
    }
    created = await (await api.post("/api/v1/optimizations", json=body)).json()
    assert created["progress"]["total"] == 3 * (4 + 1)
