"""Debian's Chromium through playwright for the UI tests: the browser fixture, and a page
watched for console errors, page errors and requests outside the API (screenshots of every page
go to test-artifacts/ui/ for a reviewer)."""

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from playwright.async_api import Browser, ConsoleMessage, Page, Route, async_playwright

from tests.support.paths import ROOT

Client = TestClient[web.Request, web.Application]
CHROMIUM = "/usr/bin/chromium"  # Debian's; `make test` installs it (browser-tool)
ARTIFACTS = ROOT / "test-artifacts" / "ui"
WAIT_MS = 60_000


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM)
        yield launched
        await launched.close()


class Watched:
    """A page whose console errors, page errors and requests outside the API are kept."""

    def __init__(self, page: Page, base: str) -> None:
        self.page = page
        self.problems: list[str] = []
        self.base = base

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                self.problems.append(f"console: {message.text}")

        page.on("console", on_console)
        page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))

    async def block_elsewhere(self) -> None:
        async def local_only(route: Route) -> None:
            if route.request.url.startswith(self.base):
                await route.continue_()
            else:
                self.problems.append(f"outside request: {route.request.url}")
                await route.abort()

        await self.page.route("**/*", local_only)

    async def open(self, path: str, shot: str) -> None:
        await self.page.goto(f"{self.base}{path}")
        await self.page.wait_for_selector("#app[data-ready=true]", timeout=WAIT_MS)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await self.page.screenshot(path=str(ARTIFACTS / f"{shot}.png"), full_page=True)
        assert not self.problems, (path, self.problems)
        assert "form-error" not in await self.page.inner_html("#app"), path

    def take_refusals(self) -> None:
        """Chromium logs the expected 422 answers; anything else is still a problem."""
        assert all("status of 422" in p for p in self.problems), self.problems
        self.problems.clear()


async def watched(browser: Browser, api: Client) -> Watched:
    base = str(api.make_url("")).rstrip("/")
    page = await browser.new_page(viewport={"width": 1300, "height": 900})
    seen = Watched(page, base)
    await seen.block_elsewhere()
    return seen
