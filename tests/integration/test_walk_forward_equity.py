"""A walk-forward's out-of-sample curve through the API: the test windows chained bar by bar,
the same curve the out-of-sample metrics were computed from."""

from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from shared.settings import Settings
from tests.support.market import BACKTEST_REQUEST, T0, insert_candles, random_walk
from tests.support.services import running_engine, settled

pytestmark = pytest.mark.integration

Client = TestClient[web.Request, web.Application]
BACKTEST: dict[str, Any] = {**BACKTEST_REQUEST, "end": "2024-03-01T00:00:00Z", "warmup_bars": 0}


async def optimize(api: Client, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    resp = await api.post("/api/v1/optimizations", json=body)
    assert resp.status == 202, await resp.text()
    done = await settled(api, resp.headers["Location"])
    assert done["status"] == "succeeded", done["error"]
    return resp.headers["Location"], done


async def test_the_out_of_sample_curve_chains_the_test_windows(
    api: Client, pool: asyncpg.Pool, settings: Settings
) -> None:
    await insert_candles(pool, "linear", "BTCUSDT", "60", random_walk(T0, 1500, "60"))
    grid = {"fast": [3, 5], "slow": [20, 30]}
    walk = {"train_bars": 400, "test_bars": 200}
    async with running_engine(settings):
        location, done = await optimize(
            api,
            {
                "kind": "walk_forward",
                "backtest": BACKTEST,
                "param_grid": grid,
                "walk_forward": walk,
            },
        )
        grid_location, _ = await optimize(
            api, {"kind": "grid", "backtest": BACKTEST, "param_grid": grid}
        )
    curve = await (await api.get(f"{location}/equity")).json()
    windows = done["walk_forward"]["windows"]
    assert curve["total"] == windows * walk["test_bars"] == len(curve["items"])
    capital = 10_000.0
    chained_return = done["walk_forward"]["test_metrics"]["total_return"]
    assert curve["items"][-1]["equity"] == pytest.approx(capital * (1 + chained_return), rel=1e-12)
    rows = await (await api.get(f"{location}/results", params={"order_by": "window"})).json()
    first_test_start = rows["items"][0]["test_start"]
    assert curve["items"][0]["time"] == first_test_start.replace("+00:00", "Z")
    small = await (await api.get(f"{location}/equity", params={"points": 50})).json()
    assert len(small["items"]) <= 50
    assert small["items"][-1] == curve["items"][-1] and small["items"][0] == curve["items"][0]
    missing = await api.get(f"{grid_location}/equity")
    assert missing.status == 404
