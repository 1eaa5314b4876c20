"""The sim's WebSocket: subscribe acks, ping/pong, kline pushes, drops and refusals."""

import asyncio
import time
from typing import Any

import aiohttp
import pytest

from services.bybit_sim.server import RunningSim, running_sim
from services.bybit_sim.settings import SimSettings
from shared.timestamps import parse_epoch_ms

START = parse_epoch_ms("2025-03-01T12:10:00Z")


def sim_settings(**overrides: Any) -> SimSettings:
    return SimSettings(port=0, clock_start=START, **overrides)


async def collect(ws: aiohttp.ClientWebSocketResponse, seconds: float) -> list[dict[str, Any]]:
    messages = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            messages.append(await ws.receive_json(timeout=left))
        except TimeoutError:
            break
    return messages


async def test_subscribe_ack_errors_and_pong() -> None:
    async with running_sim(sim_settings()) as sim, aiohttp.ClientSession() as http:
        async with http.ws_connect(f"{sim.ws_url}/linear") as ws:
            await ws.send_json(
                {"req_id": "1", "op": "subscribe", "args": ["kline.1.BTCUSDT", "kline.5.ETHUSDT"]}
            )
            ack = await ws.receive_json(timeout=2)
            assert ack["success"] is True and ack["ret_msg"] == ""
            assert (ack["req_id"], ack["op"]) == ("1", "subscribe") and ack["conn_id"]
            for topic in (
                "kline.7.BTCUSDT",
                "kline.1.NOPEUSDT",
                "orderbook.1.BTCUSDT",
                "kline.1.BTCUSDT",
            ):
                await ws.send_json({"req_id": "2", "op": "subscribe", "args": [topic]})
                bad = await ws.receive_json(timeout=2)
                assert bad["success"] is False and topic in bad["ret_msg"]
                assert bad["conn_id"] == ack["conn_id"]
            await ws.send_json({"req_id": "p1", "op": "ping"})
            pong = await ws.receive_json(timeout=2)
            assert pong == {
                "success": True,
                "ret_msg": "pong",
                "conn_id": ack["conn_id"],
                "req_id": "p1",
                "op": "ping",
            }
        async with http.ws_connect(f"{sim.ws_url}/spot") as ws:
            args = [
                f"kline.{i}.BTCUSDT"
                for i in ("1", "3", "5", "15", "30", "60", "120", "240", "360", "720", "D")
            ]
            await ws.send_json({"req_id": "s", "op": "subscribe", "args": args})
            too_many = await ws.receive_json(timeout=2)
            assert too_many["success"] is False and "10" in too_many["ret_msg"]
            await ws.send_json({"req_id": "s2", "op": "subscribe", "args": args[:10]})
            assert (await ws.receive_json(timeout=2))["success"] is True
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await http.ws_connect(f"{sim.ws_url}/option")


def check_closed_pushes(sim: RunningSim, pushes: list[dict[str, Any]], step_ms: int) -> None:
    confirmed = [p["data"][0] for p in pushes if p["data"][0]["confirm"]]
    starts = [c["start"] for c in confirmed]
    assert len(starts) >= 2
    assert starts == list(range(starts[0], starts[-1] + step_ms, step_ms))  # each once, in order
    closed = sim.book.closed_candles(
        "linear", "BTCUSDT", "1", starts[0], starts[-1], sim.clock.now_ms()
    )
    assert closed["open_time"].tolist() == starts
    for candle, stored in zip(confirmed, closed, strict=True):
        values = [float(candle[k]) for k in ("open", "high", "low", "close", "volume", "turnover")]
        assert values == [stored[k] for k in ("open", "high", "low", "close", "volume", "turnover")]
        assert candle["end"] == candle["start"] + step_ms - 1 and candle["interval"] == "1"


async def test_pushes_confirm_every_closed_candle_exactly_once() -> None:
    settings = sim_settings(clock_speed=60, ws_push_interval_seconds=0.25)
    async with (
        running_sim(settings) as sim,
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{sim.ws_url}/linear") as ws,
    ):
        await ws.send_json({"req_id": "1", "op": "subscribe", "args": ["kline.1.BTCUSDT"]})
        assert (await ws.receive_json(timeout=2))["success"]
        pushes = await collect(ws, 3.2)
    assert all(p["topic"] == "kline.1.BTCUSDT" and p["type"] == "snapshot" for p in pushes)
    assert all(isinstance(p["ts"], int) and p["ts"] == p["data"][0]["timestamp"] for p in pushes)
    check_closed_pushes(sim, pushes, 60_000)
    live = [p["data"][0] for p in pushes if not p["data"][0]["confirm"]]
    assert len(live) >= 8
    assert len({(c["start"], c["close"], c["volume"]) for c in live}) > len(
        {c["start"] for c in live}
    )


async def test_candles_closing_between_pushes_are_all_confirmed_oldest_first() -> None:
    settings = sim_settings(clock_speed=600, ws_push_interval_seconds=0.5)
    async with (
        running_sim(settings) as sim,
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{sim.ws_url}/linear") as ws,
    ):
        await ws.send_json({"req_id": "1", "op": "subscribe", "args": ["kline.1.BTCUSDT"]})
        await ws.receive_json(timeout=2)
        pushes = await collect(ws, 1.8)
    check_closed_pushes(sim, pushes, 60_000)
    confirmed = sum(p["data"][0]["confirm"] for p in pushes)
    assert confirmed >= 10  # ~5 per push
    assert pushes[-1]["data"][0]["confirm"] is False


async def test_drop_refuse_and_reconnect() -> None:
    async with running_sim(sim_settings()) as sim, aiohttp.ClientSession() as http:
        ws = await http.ws_connect(f"{sim.ws_url}/inverse")
        async with http.post(sim.rest_url + "/sim/ws/drop", json={"refuse_seconds": 0.5}) as r:
            assert (await r.json())["dropped"] == 1
        message = await ws.receive(timeout=2)
        assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        await ws.close()
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(f"{sim.ws_url}/inverse")
        assert refused.value.status == 503
        await asyncio.sleep(0.6)
        async with http.ws_connect(f"{sim.ws_url}/inverse") as again:
            await again.send_json({"op": "subscribe", "args": ["kline.D.BTCUSD"]})
            assert (await again.receive_json(timeout=2))["success"] is True
        async with http.get(sim.rest_url + "/sim/stats") as r:
            stats = await r.json()
        assert (stats["ws_dropped"], stats["ws_refused"], stats["ws_opened_total"]) == (1, 1, 2)


async def test_silent_sockets_are_cut_and_drop_after_cuts_all() -> None:
    settings = sim_settings(ws_idle_timeout_seconds=0.6, ws_push_interval_seconds=0.1)
    async with (
        running_sim(settings) as sim,
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{sim.ws_url}/linear", autoping=False) as pinging,
        http.ws_connect(f"{sim.ws_url}/linear", autoping=False) as silent,
    ):
        for _ in range(4):
            await asyncio.sleep(0.3)
            await pinging.send_json({"op": "ping"})
            assert (await pinging.receive_json(timeout=1))["ret_msg"] == "pong"
        assert (await silent.receive(timeout=1)).type in (
            aiohttp.WSMsgType.CLOSE,
            aiohttp.WSMsgType.CLOSED,
        )
        assert not pinging.closed
    settings = sim_settings(ws_drop_after_seconds=0.4, ws_push_interval_seconds=0.1)
    async with (
        running_sim(settings) as sim,
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{sim.ws_url}/linear") as ws,
    ):
        started = time.monotonic()
        message = await ws.receive(timeout=2)
        assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert 0.35 < time.monotonic() - started < 1.5
