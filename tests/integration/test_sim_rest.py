"""The sim's REST API over real HTTP: envelope, errors, the candle in progress, limits, faults."""

import asyncio
from typing import Any

import aiohttp
import pytest

from services.bybit_sim.server import RunningSim, running_sim
from services.bybit_sim.settings import SimSettings
from shared.timestamps import parse_epoch_ms

START = parse_epoch_ms("2025-03-01T12:10:00Z")


def sim_settings(**overrides: Any) -> SimSettings:
    return SimSettings(port=0, clock_start=START, **overrides)


async def get(session: aiohttp.ClientSession, sim: RunningSim, path: str) -> tuple[int, Any]:
    async with session.get(sim.rest_url + path) as response:
        body = await response.json() if response.status == 200 else await response.text()
        return response.status, body


async def test_envelope_and_kline_page() -> None:
    async with running_sim(sim_settings()) as sim, aiohttp.ClientSession() as http:
        query = "category=inverse&symbol=BTCUSD&interval=60&start=1735689600000&end=1735700400000"
        status, body = await get(http, sim, f"/v5/market/kline?{query}")
        assert status == 200
        assert set(body) == {"retCode", "retMsg", "result", "retExtInfo", "time"}
        assert (body["retCode"], body["retMsg"], body["retExtInfo"]) == (0, "OK", {})
        assert abs(body["time"] - sim.clock.now_ms()) < 1000
        result = body["result"]
        assert (result["category"], result["symbol"]) == ("inverse", "BTCUSD")
        opens = [int(row[0]) for row in result["list"]]
        assert opens == [
            1735689600000 + h * 3_600_000 for h in (3, 2, 1, 0)
        ]  # inclusive, newest first
        assert all(isinstance(v, str) and len(row) == 7 for row in result["list"] for v in row)
        expected = sim.book.closed_candles("inverse", "BTCUSD", "60", opens[-1], opens[0], START)
        assert [float(r[4]) for r in result["list"]][::-1] == expected["close"].tolist()
        status, body = await get(http, sim, "/v5/market/kline?symbol=BTCUSDT&interval=D")
        assert body["result"]["category"] == "linear" and len(body["result"]["list"]) == 200


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("category=linear&symbol=NOPEUSDT&interval=1", "Not supported symbols"),
        ("category=linear&interval=1", None),
        ("category=linear&symbol=BTCUSDT&interval=2", None),
        ("category=linear&symbol=BTCUSDT", None),
        ("category=linear&symbol=BTCUSDT&interval=1&limit=0", None),
        ("category=linear&symbol=BTCUSDT&interval=1&limit=1001", None),
        ("category=linear&symbol=BTCUSDT&interval=1&start=abc", None),
        ("category=option&symbol=BTCUSDT&interval=1", None),
        ("category=spot&symbol=BTCUSD&interval=1", "Not supported symbols"),
    ],
)
async def test_bad_parameters_are_10001(query: str, message: str | None) -> None:
    async with running_sim(sim_settings()) as sim, aiohttp.ClientSession() as http:
        status, body = await get(http, sim, f"/v5/market/kline?{query}")
        assert status == 200
        assert body["retCode"] == 10001 and body["result"] == {}
        if message:
            assert body["retMsg"] == message


async def test_wrong_path_is_404_and_other_routes_answer() -> None:
    async with (
        running_sim(
            sim_settings(symbols="linear:BTCUSDT,linear:ETHUSDT,linear:SOLUSDT,spot:BTCUSDT")
        ) as sim,
        aiohttp.ClientSession() as http,
    ):
        status, _ = await get(http, sim, "/v5/market/klines?category=linear")
        assert status == 404
        _, body = await get(http, sim, "/v5/market/time")
        now = body["time"]
        assert abs(int(body["result"]["timeSecond"]) - now // 1000) <= 1
        assert int(body["result"]["timeNano"]) // 1_000_000 == pytest.approx(now, abs=1000)
        _, page1 = await get(http, sim, "/v5/market/instruments-info?category=linear&limit=2")
        cursor = page1["result"]["nextPageCursor"]
        assert [i["symbol"] for i in page1["result"]["list"]] == ["BTCUSDT", "ETHUSDT"] and cursor
        _, page2 = await get(
            http, sim, f"/v5/market/instruments-info?category=linear&limit=2&cursor={cursor}"
        )
        assert [i["symbol"] for i in page2["result"]["list"]] == ["SOLUSDT"]
        assert page2["result"]["nextPageCursor"] == ""
        btc = page1["result"]["list"][0]
        assert btc["status"] == "Trading" and btc["priceFilter"]["tickSize"] == "0.1"
        assert btc["launchTime"] == str(parse_epoch_ms("2024-01-01T00:00Z"))
        _, spot = await get(http, sim, "/v5/market/instruments-info?category=spot&symbol=BTCUSDT")
        assert [i["symbol"] for i in spot["result"]["list"]] == ["BTCUSDT"]
        assert "launchTime" not in spot["result"]["list"][0]
        _, missing = await get(http, sim, "/v5/market/instruments-info")
        assert missing["retCode"] == 10001


async def test_candle_in_progress_is_served_and_moves_with_the_clock() -> None:
    async with running_sim(sim_settings(clock_speed=60)) as sim, aiohttp.ClientSession() as http:
        path = "/v5/market/kline?category=linear&symbol=BTCUSDT&interval=60&limit=2"
        _, first = await get(http, sim, path)
        await asyncio.sleep(1.3)  # 78 sim seconds: at least one more minute in the hour
        _, second = await get(http, sim, path)
        live1, live2 = first["result"]["list"][0], second["result"]["list"][0]
        hour = parse_epoch_ms("2025-03-01T12:00Z")
        assert int(live1[0]) == int(live2[0]) == hour
        assert float(live2[5]) > float(live1[5])  # volume grows
        assert live1[4] != live2[4] or live1[2:4] != live2[2:4]
        assert first["result"]["list"][1] == second["result"]["list"][1]  # the closed one stays


async def test_breaking_the_ip_limit_gets_403_and_a_ban() -> None:
    # A ban long enough that the 403s below all fall in it on a busy machine.
    settings = sim_settings(rate_limit_requests=5, ban_seconds=3.0)
    async with running_sim(settings) as sim, aiohttp.ClientSession() as http:
        remaining = []
        for _ in range(5):
            async with http.get(sim.rest_url + "/v5/market/kline?symbol=BTCUSDT&interval=1") as r:
                assert r.status == 200
                remaining.append(int(r.headers["X-Bapi-Limit-Status"]))
                assert r.headers["X-Bapi-Limit"] == "5"
                body = await r.json()
                assert int(r.headers["X-Bapi-Limit-Reset-Timestamp"]) > body["time"]
        assert remaining == [4, 3, 2, 1, 0]
        for _ in range(3):
            status, text = await get(http, sim, "/v5/market/time")
            assert (status, text) == (403, "access too frequent")
        _, stats = await get(http, sim, "/sim/stats")
        assert (stats["forbidden"], stats["bans"]) == (3, 1)
        await asyncio.sleep(3.1)  # wall time: at least the ban's length, however busy
        status, _ = await get(http, sim, "/v5/market/time")
        assert status == 200


async def test_faults_10006_502_and_disconnect() -> None:
    async with (
        running_sim(sim_settings(fault_10006_rate=1.0)) as sim,
        aiohttp.ClientSession() as http,
    ):
        async with http.get(sim.rest_url + "/v5/market/kline?symbol=BTCUSDT&interval=1") as r:
            body = await r.json()
            assert r.status == 200
            assert (body["retCode"], body["retMsg"]) == (10006, "Too many visits!")
            assert r.headers["X-Bapi-Limit-Status"] == "0"
            wait = int(r.headers["X-Bapi-Limit-Reset-Timestamp"]) - body["time"]
            assert 0 < wait <= 1000
        async with http.post(
            sim.rest_url + "/sim/faults", json={"fault_10006_rate": 0, "fault_502_rate": 1}
        ) as r:
            assert (await r.json())["fault_502_rate"] == 1
        status, text = await get(http, sim, "/v5/market/time")
        assert status == 502 and "502 Bad Gateway" in text
        async with http.post(
            sim.rest_url + "/sim/faults", json={"fault_502_rate": 0, "fault_disconnect_rate": 1}
        ) as r:
            assert r.status == 200
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await get(http, sim, "/v5/market/time")
        async with http.post(sim.rest_url + "/sim/faults", json={"fault_disconnect_rate": 2}) as r:
            assert r.status == 422
        _, stats = await get(http, sim, "/sim/stats")
        assert stats["faults_10006"] == 1 and stats["faults_502"] == 1 and stats["disconnects"] >= 1


async def test_fault_sequence_is_the_same_for_the_same_seed() -> None:
    async def outcomes() -> list[int]:
        settings = sim_settings(seed=11, fault_10006_rate=0.3, fault_502_rate=0.3)
        async with running_sim(settings) as sim, aiohttp.ClientSession() as http:
            seen = []
            for _ in range(30):
                status, body = await get(http, sim, "/v5/market/time")
                seen.append(body["retCode"] if status == 200 else status)
            return seen

    first = await outcomes()
    assert first == await outcomes()
    assert {0, 10006, 502} == set(first)


async def test_perpetual_routes_sit_behind_the_same_limit_and_faults() -> None:
    async with running_sim(
        sim_settings(rate_limit_requests=3, rate_limit_window_seconds=60)
    ) as sim:
        async with aiohttp.ClientSession() as http:
            paths = [
                "/v5/market/mark-price-kline?category=linear&symbol=BTCUSDT&interval=1",
                "/v5/market/funding/history?category=linear&symbol=BTCUSDT",
                "/v5/market/risk-limit?category=linear&symbol=BTCUSDT",
                "/v5/market/funding/history?category=linear&symbol=BTCUSDT",
            ]
            statuses = [(await get(http, sim, path))[0] for path in paths]
        assert statuses == [200, 200, 200, 403]
    faulty = sim_settings(fault_502_rate=1.0)
    async with running_sim(faulty) as sim, aiohttp.ClientSession() as http:
        for path in paths:
            assert (await get(http, sim, path))[0] == 502


@pytest.mark.parametrize(
    "path",
    [
        "/v5/market/mark-price-kline?category=spot&symbol=BTCUSDT&interval=1",
        "/v5/market/mark-price-kline?category=linear&symbol=NOPEUSDT&interval=1",
        "/v5/market/mark-price-kline?category=linear&symbol=BTCUSDT&interval=2",
        "/v5/market/funding/history?category=linear&symbol=BTCUSDT&startTime=1735689600000",
        "/v5/market/funding/history?category=linear&symbol=BTCUSDT&limit=201",
        "/v5/market/funding/history?category=spot&symbol=BTCUSDT",
        "/v5/market/risk-limit?category=spot",
        "/v5/market/risk-limit?symbol=BTCUSDT",
        "/v5/market/funding/history?symbol=BTCUSDT",
    ],
)
async def test_perpetual_routes_refuse_bad_parameters(path: str) -> None:
    async with running_sim(sim_settings()) as sim, aiohttp.ClientSession() as http:
        status, body = await get(http, sim, path)
    assert status == 200 and body["retCode"] == 10001


async def test_mark_price_kline_pages_like_kline() -> None:
    async with running_sim(sim_settings()) as sim, aiohttp.ClientSession() as http:
        query = "category=inverse&symbol=BTCUSD&interval=15&start=1740787200000&limit=1000"
        _, candles = await get(http, sim, f"/v5/market/kline?{query}")
        _, marks = await get(http, sim, f"/v5/market/mark-price-kline?{query}")
    opens = [row[0] for row in candles["result"]["list"]]
    assert [row[0] for row in marks["result"]["list"]] == opens and len(opens) > 40
    assert marks["result"]["symbol"] == "BTCUSD"
