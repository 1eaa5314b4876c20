"""GET /backtests/{id}/equity streams a long curve: chunked, in bounded memory, while the API
goes on answering."""

import asyncio
import time
import uuid
from typing import Any

import aiohttp
import asyncpg
import numpy as np
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from devtools.launcher import free_port
from domain.market.intervals import iso_utc
from services.api.app import create_app
from shared.settings import Settings

pytestmark = pytest.mark.integration

Client = TestClient[web.Request, web.Application]
T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
BARS = 1_530_000  # the size that built 94 MB in one piece on the event loop


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


@pytest.fixture
async def long_backtest(pool: asyncpg.Pool) -> tuple[str, np.ndarray, np.ndarray]:
    backtest_id = uuid.uuid4()
    times = T0 + 60_000 * np.arange(BARS, dtype=np.int64)
    values = 10_000 + np.arange(BARS) * 0.25
    await pool.execute(
        """INSERT INTO backtests (id, status, request, symbol, strategy)
           VALUES ($1, 'succeeded', '{}', 'BTCUSDT', 'sma_cross')""",
        backtest_id,
    )
    await pool.execute(
        "INSERT INTO equity VALUES ($1, $2, $3, $4)",
        backtest_id,
        BARS,
        times.astype("<i8").tobytes(),
        values.astype("<f8").tobytes(),
    )
    return f"/api/v1/backtests/{backtest_id}/equity", times, values


async def _loop_lag(stop: asyncio.Event, gaps: list[float]) -> None:
    while not stop.is_set():
        before = time.monotonic()
        await asyncio.sleep(0.01)
        gaps.append(time.monotonic() - before)


async def test_a_long_curve_is_streamed_while_the_api_answers(
    api: Client, long_backtest: tuple[str, np.ndarray, np.ndarray]
) -> None:
    path, times, values = long_backtest
    stop, gaps = (
        asyncio.Event(),
        list[float](),
    )  # the API runs in this event loop: its stalls show here
    ticker = asyncio.create_task(_loop_lag(stop, gaps))
    async with aiohttp.ClientSession() as session:
        url = str(api.make_url(path))
        before = rss_bytes()
        async with session.get(url) as stream:
            assert stream.status == 200
            assert stream.headers.get("Transfer-Encoding") == "chunked"
            assert "Content-Length" not in stream.headers
            head = await stream.content.read(65_536)
            grown = rss_bytes() - before
            # While the stream waits for this reader, the API answers others.
            health = await session.get(str(api.make_url("/api/v1/healthz")))
            assert health.status == 200 and await health.json() == {"status": "ok"}
            assert not stream.content.at_eof(), "the stream is still in progress"
            body = bytearray(head)
            async for piece in stream.content.iter_chunked(1 << 20):
                body += piece
    stop.set()
    await ticker
    # Built whole, the answer is ~94 MB before its first byte goes out.
    assert grown < 60 * 1024**2, f"{grown / 1024**2:.0f} MB"
    assert max(gaps) < 1.5, f"the event loop stalled {max(gaps):.2f} s"
    page: dict[str, Any] = orjson.loads(bytes(body))
    assert page["total"] == BARS and len(page["items"]) == BARS
    for i in (0, 1, 32_767, 32_768, 1_000_000, BARS - 1):
        assert page["items"][i] == {"time": iso_utc(int(times[i])), "equity": float(values[i])}


async def test_a_downsampled_curve_keeps_the_ends_and_at_most_n_points(
    api: Client, long_backtest: tuple[str, np.ndarray, np.ndarray]
) -> None:
    path, _, values = long_backtest
    for points in (2, 1000, 100_000):
        answer = await api.get(path, params={"points": points})
        assert answer.headers.get("Transfer-Encoding") == "chunked"
        page = await answer.json()
        items = page["items"]
        assert page["total"] == BARS and len(items) == points
        assert items[0] == {"time": "2024-01-01T00:00:00Z", "equity": 10_000.0}
        assert items[-1]["equity"] == float(values[-1])
        stamps = [item["time"] for item in items]
        assert stamps == sorted(stamps) and len(set(stamps)) == points


async def test_a_client_leaving_mid_stream_ends_it_quietly(
    settings: Settings, long_backtest: tuple[str, np.ndarray, np.ndarray], caplog: Any
) -> None:
    path, _, _ = long_backtest
    # Served as `python -m services.api` serves it: a handler is not cancelled when its client
    # leaves (the test server cancels it), so the stream must notice by itself.
    runner = web.AppRunner(create_app(settings), handler_cancellation=False)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            stream = await session.get(url + path)
            await stream.content.read(65_536)
            stream.close()  # drops the connection
            # The metrics count a request once its handler has returned.
            finished = 'route="/api/v1/backtests/{id}/equity",status="200"'
            deadline = time.monotonic() + 60
            while finished not in await (await session.get(f"{url}/metrics")).text():
                assert time.monotonic() < deadline, "the stream's handler never ended"
                await asyncio.sleep(0.1)
            assert (await session.get(f"{url}/api/v1/healthz")).status == 200
    finally:
        await runner.cleanup()
    errors = [r for r in caplog.records if r.levelname == "ERROR" and r.name.startswith("services")]
    assert errors == []
