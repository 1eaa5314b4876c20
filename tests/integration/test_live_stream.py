"""Live klines: only confirmed candles stored, and a cut socket's gap repaired over REST."""

import asyncio

import aiohttp
import asyncpg
import numpy as np
import pytest

from devtools.waiting import poll_until
from domain.market.intervals import floor_open_time
from services.bybit_sim.server import running_sim
from services.bybit_sim.settings import SimSettings
from shared.settings import Settings
from tests.support.ingest import assert_same_candles, stored_candles
from tests.support.services import running_ingest

pytestmark = pytest.mark.integration

MIN = 60_000
NOW_MS = 1_735_689_600_000


async def wait_for_rows(pool: asyncpg.Pool, n: int, within: float = 60) -> None:
    await poll_until(
        lambda: pool.fetchval("SELECT count(*) FROM klines"),
        lambda rows: rows >= n,
        within=within,
        what=f"{n} candles stored",
    )


async def test_stream_stores_confirmed_candles_and_repairs_a_cut(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    # One simulated minute per real second, so candles close quickly.
    sim_config = SimSettings(
        port=0,
        clock_start=NOW_MS,
        clock_speed=60,
        history_start="2024-06-01T00:00Z",
        ws_push_interval_seconds=0.2,
    )
    async with running_sim(sim_config) as sim:
        live = settings.model_copy(
            update={
                "bybit_rest_url": sim.rest_url,
                "bybit_ws_url": sim.ws_url,
                "ingest_streams": "linear:BTCUSDT:1",
            }
        )
        async with running_ingest(live):
            await wait_for_rows(pool, 3)
            before_cut = await pool.fetchval("SELECT count(*) FROM klines")
            # Cut every socket and refuse new ones for 4 s (4 simulated minutes).
            async with (
                aiohttp.ClientSession() as http,
                http.post(f"{sim.rest_url}/sim/ws/drop", json={"refuse_seconds": 4}) as resp,
            ):
                assert resp.status == 200
            await asyncio.sleep(4)
            await wait_for_rows(pool, before_cut + 6)
            now = sim.clock.now_ms()
        stored = await stored_candles(pool, "linear", "BTCUSDT", "1")
        first, last = int(stored["open_time"][0]), int(stored["open_time"][-1])
        assert last < floor_open_time(now, "1") + MIN, "nothing in progress is stored"
        # Contiguous: the minutes missed while the socket was down were filled over REST.
        assert np.all(np.diff(stored["open_time"]) == MIN)
        assert_same_candles(
            stored, sim.book.closed_candles("linear", "BTCUSDT", "1", first, last, now)
        )
    ws_rows = await pool.fetchval("SELECT count(*) FROM bybit_kline_audit WHERE source = 'ws'")
    rest_rows = await pool.fetchval("SELECT count(*) FROM bybit_kline_audit WHERE source = 'rest'")
    assert ws_rows >= 3 and rest_rows >= 1
