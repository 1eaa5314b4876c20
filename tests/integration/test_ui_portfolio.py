"""A portfolio backtest's page in Chromium (1280 x 800): the per-symbol table and the
contribution chart (each symbol's pnl), the candle chart's symbol selector, labels without
placeholders, nothing wider than the window."""

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from playwright.async_api import Browser

from shared.settings import Settings
from tests.integration.test_portfolios import ROTATION, SYMBOLS, _store
from tests.integration.test_ui_trader_view import looks_right, trader_page
from tests.support.browser import WAIT_MS, browser
from tests.support.services import running_engine, settled

pytestmark = pytest.mark.integration
__all__ = ["browser"]  # the fixture, shared with test_ui_browser

Client = TestClient[web.Request, web.Application]


async def test_a_portfolio_backtest_page_shows_each_symbol(
    api: Client, settings: Settings, pool: asyncpg.Pool, browser: Browser
) -> None:
    await _store(pool)
    async with running_engine(settings):
        created = await api.post("/api/v1/backtests", json=ROTATION)
        view = await settled(api, created.headers["Location"])
    assert view["status"] == "succeeded", view["error"]
    ui = await trader_page(browser, api)
    page = ui.page
    await ui.open(f"/backtests/{view['id']}", "portfolio-backtest")
    await page.wait_for_selector("#per-symbol tbody tr", timeout=WAIT_MS)
    await page.wait_for_selector("#contribution-chart[data-bars]", timeout=WAIT_MS)
    await looks_right(ui, "portfolio backtest")
    rows = await page.eval_on_selector_all(
        "#per-symbol tbody tr", "rows => rows.map(r => r.children[0].textContent)"
    )
    assert rows == SYMBOLS
    assert await page.get_attribute("#contribution-chart", "data-bars") == str(len(SYMBOLS))
    options = await page.eval_on_selector_all(
        "#chart-symbol option", "options => options.map(o => o.value)"
    )
    assert options == SYMBOLS
    title = await page.inner_text("#bt-title")
    assert "BTCUSDT" in title
    # The trades table names each trade's symbol, second after the side.
    await page.wait_for_selector("#trades tbody tr", timeout=WAIT_MS)
    headers = await page.eval_on_selector_all(
        "#trades thead th", "ths => ths.map(t => t.textContent)"
    )
    assert headers[1].startswith("symbol")
    traded = await page.eval_on_selector_all(
        "#trades tbody tr", "rows => rows.map(r => r.children[1].textContent)"
    )
    assert traded and set(traded) <= set(SYMBOLS)
