"""The sim's WebSocket: subscribe acks, ping/pong, kline pushes, drops and refusals."""

import asyncio
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from services.bybit_sim.server import RunningSim, running_sim
from services.bybit_sim.settings import SimSettings
from shared.timestamps import parse_epoch_ms

START = parse_epoch_ms("2025-03-01T12:10:00Z")


def sim_settings(**overrides: Any) -> SimSettings:
    return SimSettings(port=0, clock_start=START, **overrides)


async def collect_until(
    ws: aiohttp.ClientWebSocketResponse,
    enough: Callable[[list[dict[str, Any]]], bool],
    within: float = 60,
) -> list[dict[str, Any]]:
    """Pushes until `enough` holds for them (however slowly a busy machine sends them)."""
    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + within
    while not enough(messages):
        left = deadline - time.monotonic()
        assert left > 0, f"not enough pushes after {within} s: {len(messages)}"
        messages.append(await ws.receive_json(timeout=left))
    return messages


def _confirmed(pushes: list[dict[str, Any]]) -> int:
    return sum(p["data"][0]["confirm"] for p in pushes)


def _ends_a_push(pushes: list[dict[str, Any]]) -> bool:
    """Each push sends the candles closed since the last one, then the one in progress."""
    return bool(pushes) and pushes[-1]["data"][0]["confirm"] is False


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
        pushes = await collect_until(
            ws,
            lambda got: _confirmed(got) >= 2 and len(got) - _confirmed(got) >= 8,
        )
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
        pushes = await collect_until(ws, lambda got: _confirmed(got) >= 10 and _ends_a_push(got))
    check_closed_pushes(sim, pushes, 60_000)
    confirmed = sum(p["data"][0]["confirm"] for p in pushes)
    assert confirmed >= 10  # ~5 per push
    assert pushes[-1]["data"][0]["confirm"] is False


async def test_drop_refuse_and_reconnect() -> None:
    async with running_sim(sim_settings()) as sim, aiohttp.ClientSession() as http:
        ws = await http.ws_connect(f"{sim.ws_url}/inverse")
        # Refusing long enough for the refused attempt below to fall in it on a busy machine.
        async with http.post(sim.rest_url + "/sim/ws/drop", json={"refuse_seconds": 3}) as r:
            assert (await r.json())["dropped"] == 1
        refusing_until = time.monotonic() + 3  # the sim's window ends before this
        message = await ws.receive(timeout=10)
        assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        await ws.close()
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(f"{sim.ws_url}/inverse")
        assert refused.value.status == 503
        await asyncio.sleep(refusing_until - time.monotonic() + 0.1)
        async with http.ws_connect(f"{sim.ws_url}/inverse") as again:
            await again.send_json({"op": "subscribe", "args": ["kline.D.BTCUSD"]})
            assert (await again.receive_json(timeout=10))["success"] is True
        async with http.get(sim.rest_url + "/sim/stats") as r:
            stats = await r.json()
        assert (stats["ws_dropped"], stats["ws_refused"], stats["ws_opened_total"]) == (1, 1, 2)


async def test_silent_sockets_are_cut_and_drop_after_cuts_all() -> None:
    # Pings every 0.3 s keep a socket open under an idle timeout of 3 s, with room for a busy
    # machine's delays; the silent one is cut meanwhile.
    settings = sim_settings(ws_idle_timeout_seconds=3, ws_push_interval_seconds=0.1)
    async with (
        running_sim(settings) as sim,
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{sim.ws_url}/linear", autoping=False) as pinging,
        http.ws_connect(f"{sim.ws_url}/linear", autoping=False) as silent,
    ):
        opened = time.monotonic()
        while True:
            try:
                cut = await silent.receive(timeout=0.3)  # also the pause between pings
                break
            except TimeoutError:
                pass
            assert time.monotonic() - opened < 60, "the silent socket was never cut"
            await pinging.send_json({"op": "ping"})
            assert (await pinging.receive_json(timeout=10))["ret_msg"] == "pong"
        assert cut.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert time.monotonic() - opened > 2.9, "cut only after the idle timeout"
        assert not pinging.closed
    settings = sim_settings(ws_drop_after_seconds=0.4, ws_push_interval_seconds=0.1)
    async with (
        running_sim(settings) as sim,
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{sim.ws_url}/linear") as ws,
    ):
        started = time.monotonic()
        message = await ws.receive(timeout=30)
        assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert time.monotonic() - started > 0.35, "dropped only after ws_drop_after_seconds"
