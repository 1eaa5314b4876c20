"""The API as standard tools see it: the OpenAPI document validates, a client generated from it
runs a backtest end to end, and the docs page shows every route in a real browser, offline."""

import asyncio
import importlib
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from openapi_spec_validator import validate
from playwright.async_api import Route, async_playwright

from services.api.app import create_app
from shared.jobs import TERMINAL_STATUSES
from shared.settings import Settings
from tests.support.market import BACKTEST_REQUEST, T0, insert_candles, random_walk
from tests.support.services import running_engine

pytestmark = pytest.mark.integration

Client = TestClient[web.Request, web.Application]
CHROMIUM = "/usr/bin/chromium"  # Debian's; `make test` installs it (browser-tool)
TOKEN = "s3cret"
BACKTEST = BACKTEST_REQUEST


@pytest.fixture
async def secured(settings: Settings) -> Any:
    """The API with API_TOKEN set, on a real port."""
    async with TestClient(
        TestServer(create_app(settings.model_copy(update={"api_token": TOKEN})))
    ) as c:
        yield c


async def test_the_document_is_valid_openapi_with_unique_operation_ids(api: Client) -> None:
    document = await (await api.get("/api/v1/openapi.json")).json()
    validate(document)  # raises on any error, a repeated operationId included
    operations = [op for path in document["paths"].values() for op in path.values()]
    assert len({op["operationId"] for op in operations}) == len(operations)
    backtests = document["paths"]["/api/v1/backtests/{id}"]
    assert set(backtests["delete"]["responses"]) >= {"200", "204", "401", "404", "503"}
    created = document["paths"]["/api/v1/backtests"]["post"]["responses"]["202"]
    assert "Location" in created["headers"]
    schemas = document["components"]["schemas"]
    assert schemas["BacktestView"]["properties"]["status"]["enum"] == [
        "queued",
        "running",
        "succeeded",
        "failed",
        "cancelled",
    ]
    assert {"sharpe", "max_drawdown", "num_trades"} <= set(schemas["Metrics"]["properties"])


def generate_client(document: dict[str, Any], where: Path) -> ModuleType:
    """openapi-python-client's package for `document`, imported under a fresh name."""
    name = f"generated_client_{uuid.uuid4().hex[:8]}"
    spec = where / "openapi.json"
    spec.write_text(json.dumps(document))
    config = where / "config.yaml"
    config.write_text("post_hooks: []\n")  # no formatter run: nothing outside the venv needed
    tool = Path(sys.executable).with_name("openapi-python-client")
    out = where / name
    args: list[str | Path] = [
        "generate",
        "--path",
        spec,
        "--meta",
        "none",
        "--output-path",
        out,
        "--config",
        config,
    ]
    done = subprocess.run([tool, *args], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0 and "Warning" not in done.stdout, done.stdout + done.stderr
    sys.path.insert(0, str(where))
    return importlib.import_module(name)


@pytest.fixture
def generated(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    sys.path[:] = [p for p in sys.path if p != str(tmp_path)]
    for module in [m for m in sys.modules if m.startswith("generated_client_")]:
        del sys.modules[module]


async def test_a_generated_client_runs_a_backtest_end_to_end(
    secured: Client, pool: asyncpg.Pool, settings: Settings, generated: Path
) -> None:
    await insert_candles(pool, "linear", "BTCUSDT", "60", random_walk(T0, 500, "60"))
    document = await (await secured.get("/api/v1/openapi.json")).json()
    package = await asyncio.to_thread(generate_client, document, generated)
    backtests = importlib.import_module(f"{package.__name__}.api.backtests")
    api = {
        op: importlib.import_module(f"{backtests.__name__}.{op}")
        for op in ("create_backtest", "get_backtest", "list_backtest_trades", "delete_backtest")
    }
    models = importlib.import_module(f"{package.__name__}.models")
    client = package.AuthenticatedClient(
        base_url=str(secured.make_url("")), token=TOKEN, raise_on_unexpected_status=True
    )
    async with running_engine(settings), client:
        created = await api["create_backtest"].asyncio_detailed(
            client=client, body=models.BacktestSpec.from_dict(BACKTEST)
        )
        assert created.status_code == 202, created.content
        assert created.headers["Location"] == f"/api/v1/backtests/{created.parsed.id}"
        backtest_id = str(created.parsed.id)
        deadline = time.monotonic() + 120
        view = created.parsed
        while view.status.value not in TERMINAL_STATUSES:
            assert time.monotonic() < deadline, f"still {view.status.value}"
            await asyncio.sleep(0.1)
            view = await api["get_backtest"].asyncio(backtest_id, client=client)
        assert view.status == models.BacktestViewStatus.SUCCEEDED, view.error
        assert isinstance(view.metrics, models.Metrics)
        assert isinstance(view.metrics.num_trades, int) and view.metrics.num_trades > 0
        trades = await api["list_backtest_trades"].asyncio(backtest_id, client=client, limit=1000)
        assert isinstance(trades, models.PageTrade) and trades.total == view.metrics.num_trades
        assert {t.side.value for t in trades.items} <= {"long", "short"}

        deleted = await api["delete_backtest"].asyncio_detailed(backtest_id, client=client)
        assert deleted.status_code == 204  # declared, so no UnexpectedStatus
        gone = await api["get_backtest"].asyncio_detailed(backtest_id, client=client)
        assert gone.status_code == 404 and gone.parsed.error.code == "not_found"


async def test_the_docs_page_shows_every_route_offline_and_without_a_token(
    secured: Client,
) -> None:
    document = await (await secured.get("/api/v1/openapi.json")).json()
    assert (await secured.get("/api/v1/openapi.json")).status == 200, "public with API_TOKEN"
    expected = {(m.upper(), p) for p, ops in document["paths"].items() for m in ops}
    base = str(secured.make_url("")).rstrip("/")
    elsewhere: list[str] = []

    async def local_only(route: Route) -> None:
        if route.request.url.startswith(base):
            await route.continue_()
        else:
            elsewhere.append(route.request.url)
            await route.abort()

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            page = await browser.new_page()
            await page.route("**/*", local_only)
            await page.goto(f"{base}/api/v1/docs")
            await page.wait_for_selector(".opblock-summary", timeout=60_000)
            shown = await page.eval_on_selector_all(
                ".opblock-summary",
                """blocks => blocks.map(b => [
                    b.querySelector('.opblock-summary-method').innerText,
                    b.querySelector('.opblock-summary-path').getAttribute('data-path')])""",
            )
            text = await page.inner_text("body")
        finally:
            await browser.close()
    assert {(method, path) for method, path in shown} == expected
    assert "Unable to render" not in text and "backtester" in text
    assert elsewhere == [], "the docs page must need nothing from outside"
