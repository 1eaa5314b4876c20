"""The API's perpetual data: mark-price candles, fundings, their coverage, and `include`."""

from typing import Any

import asyncpg
import numpy as np
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from domain.market.candles import Candles
from services.ingest.kline_store import MARK_PRICE_KLINES, Series, store
from services.ingest.perpetual_pages import Fundings
from services.ingest.perpetual_store import store_fundings
from tests.support.market import insert_candles, random_walk

pytestmark = pytest.mark.integration

Client = TestClient[web.Request, web.Application]
HOUR = 3_600_000
T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
SERIES: dict[str, Any] = {"category": "linear", "symbol": "BTCUSDT", "interval": "60"}


def marked(candles: Candles) -> Candles:
    """Mark prices a little off the candles, with no volume."""
    zeros = np.zeros(len(candles))
    o, h, lo, c = (getattr(candles, f) * 1.0003 for f in ("open", "high", "low", "close"))
    return Candles(candles.open_time, o, h, lo, c, zeros, zeros)


@pytest.fixture
async def perpetual(pool: asyncpg.Pool) -> Candles:
    candles = random_walk(T0, 48, "60")
    await insert_candles(pool, "linear", "BTCUSDT", "60", candles, fundings=False)
    await insert_candles(pool, "spot", "BTCUSDT", "60", candles)
    marks = marked(candles)
    series = Series("linear", "BTCUSDT", "60")
    fundings = Fundings(
        T0 + 8 * HOUR * np.arange(6, dtype=np.int64),
        np.array([0.0001, -0.00002, 0.0003, 0.0001, 0.0025, 0.00005]),
    )
    async with pool.acquire() as conn:
        await store(
            conn, series, marks, [(T0 + 48 * HOUR, T0 + 49 * HOUR)], [], None, MARK_PRICE_KLINES
        )
        await store_fundings(conn, series, fundings, [])
    return marks


async def error_fields(resp: Any) -> list[str]:
    assert resp.status == 422, await resp.text()
    return [d["field"] for d in (await resp.json())["error"]["details"]]


async def test_klines_price_mark_answers_the_mark_price_candles(
    api: Client, perpetual: Candles
) -> None:
    query: dict[str, Any] = {**SERIES, "start": T0, "end": T0 + 47 * HOUR, "price": "mark"}
    query["limit"] = 10
    page = await (await api.get("/api/v1/klines", params={**query, "offset": 5})).json()
    assert page["total"] == 48 and len(page["items"]) == 10
    first = page["items"][0]
    assert first["open_time"] == "2024-01-01T05:00:00Z"
    assert (first["open"], first["close"]) == (perpetual.open[5], perpetual.close[5])
    assert first["volume"] is None and first["turnover"] is None
    last = await (await api.get("/api/v1/klines", params={**query, "price": "last"})).json()
    assert last["items"][0]["close"] != page["items"][0]["close"]
    assert isinstance(last["items"][0]["volume"], float)
    spot = {**query, "category": "spot"}
    assert "price" in await error_fields(await api.get("/api/v1/klines", params=spot))
    bogus = {**query, "price": "index"}
    assert "price" in await error_fields(await api.get("/api/v1/klines", params=bogus))


async def test_funding_answers_time_and_rate_oldest_first(api: Client, perpetual: Candles) -> None:
    query: dict[str, Any] = {"category": "linear", "symbol": "BTCUSDT", "start": T0 + HOUR}
    query["end"] = T0 + 39 * HOUR
    page = await (await api.get("/api/v1/funding", params=query)).json()
    assert page == {
        "items": [
            {"time": "2024-01-01T08:00:00Z", "rate": -0.00002},
            {"time": "2024-01-01T16:00:00Z", "rate": 0.0003},
            {"time": "2024-01-02T00:00:00Z", "rate": 0.0001},
            {"time": "2024-01-02T08:00:00Z", "rate": 0.0025},
        ],
        "total": 4,
    }
    paged = await (
        await api.get("/api/v1/funding", params={**query, "limit": 1, "offset": 3})
    ).json()
    assert paged["items"] == page["items"][3:] and paged["total"] == 4
    for bad, field in (
        ({"category": "spot"}, "category"),
        ({"start": T0 + 50 * HOUR}, "start"),
        ({"symbol": "btc-usdt"}, "symbol"),
        ({"interval": "60"}, "interval"),
    ):
        resp = await api.get("/api/v1/funding", params={**query, **bad})
        assert field in await error_fields(resp), bad


async def test_symbols_show_mark_price_and_funding_coverage(
    api: Client, perpetual: Candles
) -> None:
    body = await (await api.get("/api/v1/symbols")).json()
    linear, spot = body["items"]
    assert (linear["category"], spot["category"]) == ("linear", "spot")
    assert linear["mark_price"] == {
        "first_open_time": "2024-01-01T00:00:00Z",
        "last_open_time": "2024-01-02T23:00:00Z",
        "count": 48,
        "gaps": [{"start": "2024-01-03T00:00:00Z", "end": "2024-01-03T01:00:00Z"}],
    }
    assert linear["funding"] == {
        "first_time": "2024-01-01T00:00:00Z",
        "last_time": "2024-01-02T16:00:00Z",
        "count": 6,
    }
    assert spot["mark_price"] is None and spot["funding"] is None
    assert linear["gaps"] == [], "mark-price gaps are not the candles' gaps"


async def test_backfills_include_perpetual_data_by_default(api: Client) -> None:
    body = {**SERIES, "start": T0, "end": T0 + HOUR}
    created = await (await api.post("/api/v1/backfills", json=body)).json()
    assert created["include"] == ["mark_price", "funding"]
    chosen = await (
        await api.post("/api/v1/backfills", json={**body, "include": ["funding"]})
    ).json()
    assert chosen["include"] == ["funding"]
    spot = await (await api.post("/api/v1/backfills", json={**body, "category": "spot"})).json()
    assert spot["include"] == []
    for bad in (
        {"category": "spot", "include": ["funding"]},
        {"include": ["volume"]},
        {"include": "funding"},
    ):
        resp = await api.post("/api/v1/backfills", json={**body, **bad})
        assert any(f.startswith("include") for f in await error_fields(resp)), bad


async def test_openapi_declares_the_perpetual_routes(api: Client) -> None:
    document = await (await api.get("/api/v1/openapi.json")).json()
    funding = document["paths"]["/api/v1/funding"]["get"]
    assert {p["name"] for p in funding["parameters"]} >= {"category", "symbol", "start", "end"}
    klines = document["paths"]["/api/v1/klines"]["get"]
    assert "price" in {p["name"] for p in klines["parameters"]}
