"""A Bayesian search in the browser: its page shows its objective by trial, parameter
importance and parallel coordinates.
(The browser, and what a page may not do, as in test_ui_browser.py.)"""

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from playwright.async_api import Browser

from shared.settings import Settings
from tests.support.browser import ARTIFACTS, WAIT_MS, browser, watched
from tests.support.market import insert_hourly
from tests.support.services import running_engine

pytestmark = pytest.mark.integration
__all__ = ["browser"]  # the fixture, shared with test_ui_browser.py

Client = TestClient[web.Request, web.Application]


async def test_a_search_started_from_the_form_shows_its_trials_and_importance(
    api: Client, settings: Settings, pool: asyncpg.Pool, browser: Browser
) -> None:
    await insert_hourly(pool)
    ui = await watched(browser, api)
    page = ui.page
    request = {
        "kind": "bayes",
        "backtest": {
            "category": "linear",
            "symbol": "BTCUSDT",
            "interval": "60",
            "start": "2024-01-01T00:00:00Z",
            "end": "2024-01-10T00:00:00Z",
            "strategy": {"name": "sma_cross"},
        },
        "param_space": {
            "fast": {"low": 2, "high": 15},
            "slow": [20, 40],
            "trailing_stop": {"low": 0.01, "high": 0.2, "log": True},
        },
        "search": {"trials": 12, "batch": 4},
    }
    async with running_engine(settings):
        created = await api.post("/api/v1/optimizations", json=request)
        assert created.status == 202, await created.text()
        location = (await created.json())["id"]
        await ui.open(f"/optimizations/{location}", "optimization-bayes")
        await page.wait_for_selector("#opt-status.status-succeeded", timeout=WAIT_MS)
        await page.wait_for_selector("#bayes-importance canvas", timeout=WAIT_MS)
    optimization_id = page.url.rsplit("/", 1)[1]
    view = await (await api.get(f"/api/v1/optimizations/{optimization_id}")).json()
    assert view["kind"] == "bayes" and view["search"]["trials"] == 12
    history = page.locator("#bayes-history")
    assert await history.get_attribute("data-points") == str(
        sum(
            1
            for r in (
                await (await api.get(f"/api/v1/optimizations/{optimization_id}/results")).json()
            )["items"]
            if r["metrics"]["sharpe"] is not None
        )
    )
    await page.wait_for_selector("#bayes-parallel canvas", timeout=WAIT_MS)
    assert "12 trials evaluated" in await page.inner_text("#bayes-summary")
    await page.screenshot(path=str(ARTIFACTS / "optimization-bayes.png"), full_page=True)
    assert not ui.problems, ui.problems
