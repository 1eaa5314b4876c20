"""The web UI in a real browser (Debian's Chromium through playwright): every page loads with
no console error and nothing from outside the API; a backtest run from the form finishes live
and shows its chart and metrics; a 422 shows beside its field; the report opens with no network.
Screenshots of every page go to test-artifacts/ui/ for a reviewer."""

import uuid
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from playwright.async_api import Browser, Route

from services.api.app import create_app
from shared.settings import Settings
from tests.support.browser import ARTIFACTS, WAIT_MS, Watched, browser, watched
from tests.support.market import BACKTEST_REQUEST, T0, insert_candles, insert_hourly, random_walk
from tests.support.services import running_engine, settled

pytestmark = pytest.mark.integration
__all__ = ["browser"]  # the fixture

Client = TestClient[web.Request, web.Application]


async def test_a_backtest_run_from_the_form_finishes_live_and_every_page_loads(
    api: Client, settings: Settings, pool: asyncpg.Pool, browser: Browser
) -> None:
    await insert_hourly(pool)
    ui = await watched(browser, api)
    page = ui.page
    async with running_engine(settings):
        await ui.open("/backtests", "backtests")
        await page.wait_for_selector("#live.on", timeout=WAIT_MS)  # the event stream is open
        form = page.locator("#run-backtest")
        await form.locator("select[name=strategy]").select_option("sma_cross")
        await form.locator("input[name='param:fast']").fill("5")
        await form.locator("input[name='param:slow']").fill("20")
        await form.locator("button[type=submit]").click()
        await page.wait_for_url("**/backtests/*-*", timeout=WAIT_MS)
        backtest_id = page.url.rsplit("/", 1)[1]
        # Finished live: the status turns without a reload, then the result is drawn.
        await page.wait_for_selector("#bt-status.status-succeeded", timeout=WAIT_MS)
        await page.wait_for_selector("#candles canvas", timeout=WAIT_MS)
        await page.wait_for_selector("#equity canvas", timeout=WAIT_MS)
        metrics = await page.inner_text("#metrics")
        view = await (await api.get(f"/api/v1/backtests/{backtest_id}")).json()
        assert view["status"] == "succeeded" and view["request"]["strategy"]["params"] == {
            "fast": 5,
            "slow": 20,
        }
        assert "sharpe" in metrics and "num trades" in metrics
        trades = (await (await api.get(f"/api/v1/backtests/{backtest_id}/trades")).json())["total"]
        assert f"Trades ({trades})" in await page.inner_text("#bt-body")
        await page.screenshot(path=str(ARTIFACTS / "backtest.png"), full_page=True)
        assert not ui.problems, ui.problems

        second = await api.post("/api/v1/backtests", json={**BACKTEST_REQUEST})
        other = await settled(api, second.headers["Location"])
        grid = {
            "kind": "grid",
            "backtest": BACKTEST_REQUEST,
            "param_grid": {"fast": [5, 10], "slow": [20, 30]},
            "objective": "sharpe",
        }
        created = await api.post("/api/v1/optimizations", json=grid)
        optimization = await settled(api, created.headers["Location"])
        plan = {"train_bars": 100, "test_bars": 50}
        created = await api.post(
            "/api/v1/optimizations", json={**grid, "kind": "walk_forward", "walk_forward": plan}
        )
        walk_forward = await settled(api, created.headers["Location"])
    assert optimization["status"] == "succeeded" and walk_forward["status"] == "succeeded"

    await ui.open(f"/compare?ids={backtest_id},{other['id']}", "compare")
    compared = await page.inner_text("#compare-metrics")
    assert backtest_id[:8] in compared and other["id"][:8] in compared
    await page.wait_for_selector("#compare-equity canvas")
    await ui.open(f"/optimizations/{optimization['id']}", "optimization")
    await page.wait_for_selector("#heatmap canvas")
    assert await page.get_attribute("#heatmap", "data-cells") == "4"
    assert await page.locator("#opt-results tbody tr").count() == 4
    await ui.open(f"/optimizations/{walk_forward['id']}", "walk-forward")
    windows = walk_forward["walk_forward"]["windows"]
    assert windows >= 2
    assert await page.locator("#wf-windows tbody tr").count() == windows
    await page.wait_for_selector("#wf-equity canvas")
    await ui.open("/", "home")
    recent = await page.inner_text("#recent-jobs")
    assert backtest_id[:8] in recent and optimization["id"][:8] in recent
    assert "All services ready" in await page.inner_text("#readiness")
    for path, shot in [
        ("/data", "data"),
        ("/strategies", "strategies"),
        ("/optimizations", "optimizations"),
    ]:
        await ui.open(path, shot)


async def test_a_422_shows_beside_the_field_it_names(
    api: Client, pool: asyncpg.Pool, browser: Browser
) -> None:
    await insert_hourly(pool)
    ui = await watched(browser, api)
    page = ui.page
    await ui.open("/backtests", "backtests-form")
    form = page.locator("#run-backtest")
    await form.locator("select[name=strategy]").select_option("sma_cross")
    await form.locator("input[name='param:fast']").fill("100000")
    await form.locator("button[type=submit]").click()
    error = page.locator("[data-error-for='strategy.params.fast']")
    await error.wait_for(timeout=WAIT_MS)
    # Right after the input it names, not in a generic alert.
    beside: Any = await error.evaluate("e => e.previousElementSibling.name")
    assert beside == "param:fast"
    assert "fast" in await error.inner_text()
    await page.screenshot(path=str(ARTIFACTS / "backtests-422.png"), full_page=True)
    ui.take_refusals()

    await ui.open("/data", "data-form")
    await page.fill("#backfill-form input[name=start]", "2014-01-01T00:00:00Z")
    await page.click("#backfill-form button")
    early = page.locator("#backfill-form [data-error-for=start]")
    await early.wait_for(timeout=WAIT_MS)
    assert await early.evaluate("e => e.previousElementSibling.name") == "start"
    ui.take_refusals()

    await ui.open("/strategies", "strategies-editor")
    broken = '{"params": {}, "long_entry": "close > smaa(close, 3)"}'
    await page.locator("#expression-form textarea").fill(broken)
    await page.locator("#expression-form button").click()
    shown = page.locator("#expression-form .field-error")
    await shown.wait_for(timeout=WAIT_MS)
    assert await shown.get_attribute("data-error-for") == "definition.long_entry"
    assert "smaa" in await shown.inner_text()
    assert await shown.evaluate("e => e.previousElementSibling.tagName") == "TEXTAREA"
    # And where in the expression: the editor selects the column the API names.
    marked = "e => e.value.slice(e.selectionStart, e.selectionStart + 4)"
    assert await page.locator("#expression-form textarea").evaluate(marked) == "smaa"
    await page.screenshot(path=str(ARTIFACTS / "strategies-422.png"), full_page=True)
    ui.take_refusals()


async def test_with_a_token_the_page_asks_once_and_sends_it(
    settings: Settings, browser: Browser
) -> None:
    secured = settings.model_copy(update={"api_token": "s3cret"})
    async with TestClient(TestServer(create_app(secured))) as api:
        page = await browser.new_page()
        base = str(api.make_url("")).rstrip("/")
        await page.goto(f"{base}/backtests")
        await page.wait_for_selector("#token-form:not([hidden])", timeout=WAIT_MS)
        await page.fill("#token-input", "s3cret")
        await page.click("#token-form button")
        await page.wait_for_selector("#backtest-list table", timeout=WAIT_MS)
        await page.wait_for_selector("#live.on", timeout=WAIT_MS)  # the stream sends it too
        assert await page.evaluate("localStorage.getItem('backtester.api_token')") == "s3cret"
        ui = Watched(page, base)
        await ui.open("/strategies", "strategies-with-token")  # remembered: no form again
        assert await page.locator("#token-form").is_hidden()


async def test_the_report_opens_with_no_network(
    api: Client, settings: Settings, pool: asyncpg.Pool, browser: Browser
) -> None:
    await insert_hourly(pool)
    async with running_engine(settings):
        created = await api.post("/api/v1/backtests", json=BACKTEST_REQUEST)
        view = await settled(api, created.headers["Location"])
    response = await api.get(f"/api/v1/backtests/{view['id']}/report")
    assert response.status == 200 and response.content_type == "text/html"
    report = await response.text()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "report.html").write_text(report)
    page = await browser.new_page()
    saved = (ARTIFACTS / "report.html").as_uri()
    requested: list[str] = []

    async def only_the_file(route: Route) -> None:
        if route.request.url == saved:
            await route.continue_()
        else:
            requested.append(route.request.url)
            await route.abort()

    await page.context.set_offline(True)
    await page.route("**/*", only_the_file)
    await page.goto(saved)
    assert requested == []
    assert await page.locator("#equity svg polyline").count() == 1
    assert await page.locator("#drawdown svg polyline").count() == 1
    trades = (await (await api.get(f"/api/v1/backtests/{view['id']}/trades")).json())["total"]
    assert await page.locator("#trades tr").count() == trades + 1
    # Human formats: the Sharpe ratio with its decimals, the return as a percentage.
    sharpe, total_return = view["metrics"]["sharpe"], view["metrics"]["total_return"]
    shown = await page.inner_text("#metrics")
    digits = 3 if abs(sharpe) < 1 else 2
    assert f"sharpe\t{sharpe:.{digits}f}".replace("-", "\u2212") in shown
    assert f"total return\t{total_return * 100:.2f} %".replace("-", "\u2212") in shown
    await page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)


async def test_a_backfills_progress_moves_live_on_the_data_page(
    api: Client, pool: asyncpg.Pool, browser: Browser
) -> None:
    # The ingest's writes, made by hand: a running backfill whose pages advance.
    backfill_id = uuid.uuid4()
    await pool.execute(
        """INSERT INTO backfill_run (id, category, symbol, interval, start_time, end_time,
                                     include, status, started_at)
           VALUES ($1, 'spot', 'BTCUSDT', '60', '2024-01-01', '2024-02-01', '{}', 'running',
                   now())""",
        backfill_id,
    )
    await pool.execute(
        """INSERT INTO backfill_progress (backfill_id, cursor_time, pages_total, pages_done)
           VALUES ($1, '2024-01-01', 10, 1)""",
        backfill_id,
    )
    ui = await watched(browser, api)
    await ui.open("/data", "data-progress")
    bar = ui.page.locator(f"[data-job='{backfill_id}'] .bf-progress")
    assert await bar.evaluate("e => [e.value, e.max]") == [1, 10]
    await pool.execute(
        "UPDATE backfill_progress SET pages_done = 7 WHERE backfill_id = $1", backfill_id
    )
    await ui.page.wait_for_function(
        f"document.querySelector(\"[data-job='{backfill_id}'] .bf-progress\").value === 7",
        timeout=WAIT_MS,
    )
    await pool.execute(
        "UPDATE backfill_run SET status = 'succeeded', finished_at = now() WHERE id = $1",
        backfill_id,
    )
    status = ui.page.locator(f"[data-job='{backfill_id}'] .status")
    await status.filter(has_text="succeeded").wait_for(timeout=WAIT_MS)
    assert not ui.problems, ui.problems


async def test_research_figures_show_on_the_pages_and_in_the_report(
    api: Client, settings: Settings, pool: asyncpg.Pool, browser: Browser
) -> None:
    await insert_hourly(pool)
    request = {**BACKTEST_REQUEST, "monte_carlo": {"runs": 200, "seed": 3}}
    grid = {
        "kind": "grid",
        "backtest": BACKTEST_REQUEST,
        "param_grid": {"fast": [3, 5, 8]},
        "robustness_blocks": 4,
    }
    async with running_engine(settings):
        created = await api.post("/api/v1/backtests", json=request)
        view = await settled(api, created.headers["Location"])
        optimized = await api.post("/api/v1/optimizations", json=grid)
        optimization = await settled(api, optimized.headers["Location"])
    assert view["status"] == optimization["status"] == "succeeded"
    ui = await watched(browser, api)
    await ui.open(f"/backtests/{view['id']}", "backtest-research")
    await ui.page.wait_for_selector("#monte-carlo table", timeout=WAIT_MS)
    # A hash is shown short, whole in its title, beside a copy button.
    shown = await ui.page.inner_html("#provenance")
    assert f'title="{view["provenance"]["candles"]["sha256"]}"' in shown
    p50 = view["monte_carlo"]["final_equity"]["p50"]
    assert f"{p50:,.2f}" in await ui.page.inner_text("#monte-carlo")
    await ui.open(f"/optimizations/{optimization['id']}", "optimization-research")
    await ui.page.wait_for_selector("#robustness", timeout=WAIT_MS)
    assert "pbo" in await ui.page.inner_text("#robustness")
    report = await (await api.get(f"/api/v1/backtests/{view['id']}/report")).text()
    assert 'id="monte-carlo"' in report and view["provenance"]["candles"]["sha256"] in report


async def test_every_trade_of_a_long_run_marks_the_candles(
    api: Client, settings: Settings, pool: asyncpg.Pool, browser: Browser
) -> None:
    minutes = random_walk(T0, 12_000, "1", seed=5)
    await insert_candles(pool, "linear", "BTCUSDT", "1", minutes)
    request = {
        **BACKTEST_REQUEST,
        "interval": "1",
        "end": "2024-01-09T07:59:00Z",
        "strategy": {"name": "sma_cross", "params": {"fast": 2, "slow": 3}},
        "direction": "long_short",
    }
    async with running_engine(settings):
        created = await api.post("/api/v1/backtests", json=request)
        view = await settled(api, created.headers["Location"])
    assert view["status"] == "succeeded", view["error"]
    total = (await (await api.get(f"/api/v1/backtests/{view['id']}/trades")).json())["total"]
    assert total > 1000
    ui = await watched(browser, api)
    await ui.open(f"/backtests/{view['id']}", "backtest-many-trades")
    await ui.page.wait_for_selector("#candles[data-marked-trades]", timeout=WAIT_MS)
    marked = await ui.page.get_attribute("#candles", "data-marked-trades")
    assert marked == str(total)
