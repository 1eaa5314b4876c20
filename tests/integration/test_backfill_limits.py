"""Backfills within bounds, and DELETE /backfills/{id}: the real ingest against the simulator
stops working on a cancelled backfill at its next commit."""

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from domain.market.intervals import DAY_MS, from_epoch_ms, iso_utc
from services.bybit_sim.server import RunningSim, running_sim
from services.bybit_sim.settings import SimSettings
from shared.settings import Settings
from tests.support.ingest import wait_for_backfill
from tests.support.services import running_ingest

pytestmark = pytest.mark.integration

Client = TestClient[web.Request, web.Application]
NOW_MS = 1_735_689_600_000  # the simulator's clock starts at 2025-01-01T00:00Z
DAY_BACKFILL = {
    "category": "linear",
    "symbol": "BTCUSDT",
    "interval": "1",
    "start": iso_utc(NOW_MS - 2 * DAY_MS),
    "end": iso_utc(NOW_MS - DAY_MS - 60_000),
}


@pytest.fixture
async def sim() -> AsyncIterator[RunningSim]:
    sim_settings = SimSettings(port=0, clock_start=NOW_MS, history_start="2024-06-01T00:00Z")
    async with running_sim(sim_settings) as running:
        yield running


def slow_ingest(settings: Settings, sim: RunningSim) -> Settings:
    return settings.model_copy(
        update={
            "bybit_rest_url": sim.rest_url,
            "bybit_ws_url": sim.ws_url,
            "ingest_requests_per_second": 15,
            "ingest_pages_per_commit": 2,
            "ingest_pages_in_flight": 2,
        }
    )


async def error_of(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    error: dict[str, Any] = (await resp.json())["error"]
    return error


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"start": "2014-12-31T00:00:00Z"}, "start", "2015-01-01"),
        ({"start": "1970-01-01T00:00:00Z", "end": "9999-01-01T00:00:00Z"}, "start", "2015"),
        ({"start": "2015-01-01T00:00:00Z", "end": "2040-01-01T00:00:00Z"}, "end", "10000000"),
        ({"end": ("now", 3 * 60_000)}, "end", "after now"),
        ({"interval": "D", "end": ("now", 3 * DAY_MS)}, "end", "now"),
    ],
)
async def test_unbounded_backfills_are_a_422_naming_the_field(
    api: Client, change: dict[str, Any], field: str, words: str
) -> None:
    # ("now", ms): that long after the moment the request is sent, not when tests were collected.
    body = {**DAY_BACKFILL, **change}
    if isinstance(body["end"], tuple):
        body["end"] = iso_utc(int(time.time() * 1000) + body["end"][1])
    error = await error_of(await api.post("/api/v1/backfills", json=body), 422)
    assert error["details"][0]["field"] == field, error
    assert words in error["message"], error
    assert (await (await api.get("/api/v1/backfills")).json())["total"] == 0


async def test_a_backfill_up_to_now_is_accepted(api: Client) -> None:
    now_ms = int(time.time() * 1000)
    body = {**DAY_BACKFILL, "start": iso_utc(now_ms - DAY_MS), "end": iso_utc(now_ms + 30_000)}
    created = await api.post("/api/v1/backfills", json=body)
    assert created.status == 202, await created.text()


async def test_a_queued_backfill_cancelled_never_runs_and_a_finished_one_is_deleted(
    api: Client, settings: Settings, pool: asyncpg.Pool, sim: RunningSim
) -> None:
    location = (await api.post("/api/v1/backfills", json=DAY_BACKFILL)).headers["Location"]
    cancelled = await api.delete(location)
    assert cancelled.status == 200, await cancelled.text()
    assert (await cancelled.json())["status"] == "cancelled"
    later = await api.post("/api/v1/backfills", json=DAY_BACKFILL)
    later_id = (await later.json())["id"]
    async with running_ingest(slow_ingest(settings, sim)):
        done = await wait_for_backfill(pool, later_id)
    assert done.status == "succeeded", done.error
    view = await (await api.get(location)).json()
    assert view["status"] == "cancelled" and view["pages_done"] == 0 and view["rows"] == 0
    assert (await api.delete(location)).status == 204
    await error_of(await api.get(location), 404)
    await error_of(await api.delete(location), 404)
    await error_of(await api.delete("/api/v1/backfills/not-an-id"), 404)


async def _sim_requests(sim: RunningSim) -> int:
    async with aiohttp.ClientSession() as http, http.get(f"{sim.rest_url}/sim/stats") as resp:
        return int((await resp.json())["requests"])


async def test_a_running_backfill_cancelled_stops_at_its_next_commit(
    api: Client, settings: Settings, pool: asyncpg.Pool, sim: RunningSim
) -> None:
    # 180 days of minutes: 260 pages, about 17 s at this pace.
    long = {**DAY_BACKFILL, "start": iso_utc(NOW_MS - 181 * DAY_MS), "include": []}
    async with running_ingest(slow_ingest(settings, sim)):
        body = await (await api.post("/api/v1/backfills", json=long)).json()
        location = f"/api/v1/backfills/{body['id']}"
        deadline = time.monotonic() + 60
        while (view := await (await api.get(location)).json())["pages_done"] < 4:
            assert time.monotonic() < deadline and view["status"] in ("queued", "running"), view
            await asyncio.sleep(0.05)
        answer = await api.delete(location)
        assert answer.status == 200, await answer.text()
        at_cancel = await answer.json()
        assert at_cancel["status"] == "cancelled" and at_cancel["error"] == "cancelled by request"
        # The worker is free again: the next backfill runs while the cancelled one would still
        # have had hundreds of pages to go.
        nxt = await (await api.post("/api/v1/backfills", json=DAY_BACKFILL)).json()
        assert (await wait_for_backfill(pool, nxt["id"], within=60)).status == "succeeded"
        requests = await _sim_requests(sim)
        await asyncio.sleep(1.0)
        assert await _sim_requests(sim) == requests, "nothing fetches for the cancelled job"
    final = await (await api.get(location)).json()
    assert final["status"] == "cancelled"
    assert final["pages_done"] == at_cancel["pages_done"] < final["pages_total"] == 260
    # The next backfill wrote the last two days; everything before them is the cancelled one's.
    stored = await pool.fetchval(
        "SELECT count(*) FROM klines WHERE open_time < $1", from_epoch_ms(NOW_MS - 2 * DAY_MS)
    )
    assert stored == final["rows"], "no candles written for it after the cancel"
