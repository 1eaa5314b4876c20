"""Fidelity: Bybit's own maintained client (pybit) talks to the sim as if it were Bybit."""

import asyncio
import threading
import time
from typing import Any

import pytest
from pybit.exceptions import InvalidRequestError
from pybit.unified_trading import HTTP, WebSocket

from services.bybit_sim.server import running_sim
from services.bybit_sim.settings import SimSettings
from shared.timestamps import parse_epoch_ms

START = parse_epoch_ms("2025-03-01T12:10:00Z")


async def test_pybit_http_reads_klines_instruments_and_time() -> None:
    async with running_sim(SimSettings(port=0, clock_start=START)) as sim:
        session = HTTP(testnet=False, max_retries=1)
        session.endpoint = sim.rest_url
        kline = await asyncio.to_thread(
            session.get_kline,
            category="linear",
            symbol="BTCUSDT",
            interval=60,
            start=parse_epoch_ms("2025-03-01T08:00Z"),
            end=START,
        )
        rows = kline["result"]["list"]
        assert [int(r[0]) for r in rows] == [
            parse_epoch_ms("2025-03-01T12:00Z") - h * 3_600_000 for h in range(5)
        ]
        closed = sim.book.closed_candles(
            "linear", "BTCUSDT", "60", int(rows[-1][0]), int(rows[1][0]), START
        )
        assert [float(r[4]) for r in rows[1:]][::-1] == closed["close"].tolist()
        info = await asyncio.to_thread(session.get_instruments_info, category="inverse")
        assert [i["symbol"] for i in info["result"]["list"]] == ["BTCUSD"]
        server_time = await asyncio.to_thread(session.get_server_time)
        assert int(server_time["result"]["timeSecond"]) == pytest.approx(START // 1000, abs=5)
        with pytest.raises(InvalidRequestError) as error:
            await asyncio.to_thread(session.get_kline, category="linear", symbol="NOPE", interval=1)
        assert error.value.status_code == 10001 and "Not supported symbols" in error.value.message


async def test_pybit_websocket_receives_confirmed_kline_pushes() -> None:
    settings = SimSettings(port=0, clock_start=START, clock_speed=60, ws_push_interval_seconds=0.25)
    async with running_sim(settings) as sim:

        class SimWebSocket(WebSocket):  # type: ignore[misc]
            # pybit records a subscription and its callback only after sending it; the sim,
            # on the same machine, can answer first (a KeyError in pybit's thread), so the
            # answer waits until the subscription is recorded.
            def __init__(self, **kwargs: Any) -> None:
                self.recording = threading.Lock()
                super().__init__(**kwargs)

            def _connect(self, url: str) -> None:
                super()._connect(f"{sim.ws_url}/linear")

            def subscribe(self, *args: Any, **kwargs: Any) -> None:
                with self.recording:
                    super().subscribe(*args, **kwargs)

            def _on_message(self, message: str) -> None:
                with self.recording:
                    super()._on_message(message)

        received: list[dict[str, Any]] = []
        lock = threading.Lock()

        def on_kline(message: dict[str, Any]) -> None:
            with lock:
                received.append(message)

        ws = await asyncio.to_thread(SimWebSocket, channel_type="linear", testnet=False, retries=3)
        try:
            await asyncio.to_thread(
                ws.kline_stream, interval=1, symbol="BTCUSDT", callback=on_kline
            )
            deadline = time.monotonic() + 60  # a busy machine delays pybit's thread
            while time.monotonic() < deadline:
                await asyncio.sleep(0.2)
                with lock:
                    if sum(m["data"][0]["confirm"] for m in received) >= 2:
                        break
        finally:
            await asyncio.to_thread(ws.exit)
        with lock:
            messages = list(received)
        assert all(m["topic"] == "kline.1.BTCUSDT" for m in messages)
        confirmed = [m["data"][0] for m in messages if m["data"][0]["confirm"]]
        assert len(confirmed) >= 2
        first = confirmed[0]
        stored = sim.book.closed_candles(
            "linear", "BTCUSDT", "1", first["start"], first["start"], sim.clock.now_ms()
        )
        assert float(first["close"]) == stored["close"][0]


async def test_pybit_http_reads_mark_prices_funding_and_risk_limits() -> None:
    async with running_sim(SimSettings(port=0, clock_start=START)) as sim:
        session = HTTP(testnet=False, max_retries=1)
        session.endpoint = sim.rest_url
        mark = await asyncio.to_thread(
            session.get_mark_price_kline,
            category="linear",
            symbol="BTCUSDT",
            interval="60",
            start=parse_epoch_ms("2025-03-01T08:00Z"),
            end=START,
        )
        rows = mark["result"]["list"]
        assert [len(r) for r in rows] == [5] * 5
        closed = sim.mark_book.closed_candles(
            "linear", "BTCUSDT", "60", int(rows[-1][0]), int(rows[1][0]), START
        )
        assert [float(r[4]) for r in rows[1:]][::-1] == closed["close"].tolist()
        last = sim.book.closed_candles(
            "linear", "BTCUSDT", "60", int(rows[-1][0]), int(rows[1][0]), START
        )
        assert closed["close"].tolist() != last["close"].tolist(), "the basis moves the mark"

        funding = await asyncio.to_thread(
            session.get_funding_rate_history,
            category="linear",
            symbol="BTCUSDT",
            endTime=START,
            limit=10,
        )
        history = funding["result"]["list"]
        times = [int(item["fundingRateTimestamp"]) for item in history]
        assert times == [parse_epoch_ms("2025-03-01T08:00Z") - k * 8 * 3_600_000 for k in range(10)]
        assert all(
            item["symbol"] == "BTCUSDT" and abs(float(item["fundingRate"])) <= 0.005
            for item in history
        )
        with pytest.raises(InvalidRequestError) as error:
            await asyncio.to_thread(
                session.get_funding_rate_history,
                category="linear",
                symbol="BTCUSDT",
                startTime=START,
            )
        assert error.value.status_code == 10001

        tiers = await asyncio.to_thread(session.get_risk_limit, category="linear", symbol="BTCUSDT")
        lowest = tiers["result"]["list"][0]
        assert lowest["isLowestRisk"] == 1 and lowest["maintenanceMargin"] == "0.005"
        info = await asyncio.to_thread(
            session.get_instruments_info, category="linear", symbol="BTCUSDT"
        )
        instrument = info["result"]["list"][0]
        assert instrument["leverageFilter"]["maxLeverage"] == lowest["maxLeverage"] == "100.00"
        assert instrument["fundingInterval"] == 480
