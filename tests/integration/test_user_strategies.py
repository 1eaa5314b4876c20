"""User strategies through the services: expression definitions from any client, saved ones,
and plugins from STRATEGY_PATH, in backtests, grids and walk-forward, with every error class
as a 422 or a failed job with its reason."""

from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from domain.strategies import BUILTIN_STRATEGIES
from services.api.app import create_app
from shared.settings import Settings
from tests.support.market import insert_candles, random_walk
from tests.support.services import running_engine, settled

pytestmark = pytest.mark.integration

Client = TestClient[web.Request, web.Application]
ROOT = Path(__file__).resolve().parents[2]
PLUGINS = f"{ROOT / 'tests' / 'plugins'}:{ROOT / 'examples' / 'strategies'}"
T0 = 1_704_067_200_000
SMA_PARAMS = {
    "fast": {"type": "int", "default": 10, "minimum": 1, "maximum": 500},
    "slow": {"type": "int", "default": 30, "minimum": 2, "maximum": 2000},
}
SMA_CROSS: dict[str, Any] = {
    "params": SMA_PARAMS,
    "rules": ["fast < slow"],
    **BUILTIN_STRATEGIES[0].position_rules,
}
RANGE = {
    "category": "linear",
    "symbol": "BTCUSDT",
    "interval": "60",
    "start": "2024-01-01T00:00:00Z",
    "end": "2024-03-01T00:00:00Z",
    "fee_rate": 0.001,
    "direction": "long_short",
}


@pytest.fixture
def plugin_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"strategy_path": PLUGINS, "engine_job_timeout_seconds": 5.0})


@pytest.fixture
async def api(plugin_settings: Settings) -> Any:
    client = TestClient(TestServer(create_app(plugin_settings)))
    await client.start_server()
    yield client
    await client.close()


@pytest.fixture
async def candles(pool: asyncpg.Pool) -> None:
    await insert_candles(pool, "linear", "BTCUSDT", "60", random_walk(T0, 2000, "60"))


async def backtest(api: Client, strategy: dict[str, Any], **extra: Any) -> dict[str, Any]:
    resp = await api.post("/api/v1/backtests", json={**RANGE, "strategy": strategy, **extra})
    assert resp.status == 202, await resp.text()
    return await settled(api, resp.headers["Location"])


async def refused(api: Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    resp = await api.post(path, json=body)
    assert resp.status == 422, await resp.text()
    error: dict[str, Any] = (await resp.json())["error"]
    return error


@pytest.mark.usefixtures("candles")
async def test_an_expression_strategy_runs_like_the_builtin_it_spells_out(
    api: Client, plugin_settings: Settings
) -> None:
    async with running_engine(plugin_settings):
        inline = await backtest(api, {"definition": SMA_CROSS, "params": {"fast": 5, "slow": 20}})
        builtin = await backtest(api, {"name": "sma_cross", "params": {"fast": 5, "slow": 20}})
    assert inline["status"] == builtin["status"] == "succeeded", inline["error"]
    assert inline["metrics"] == builtin["metrics"]
    assert inline["metrics"]["num_trades"] > 0
    stored = inline["request"]["strategy"]
    assert stored["definition"]["long_entry"] == SMA_CROSS["long_entry"]
    assert stored["params"] == {"fast": 5, "slow": 20}


@pytest.mark.usefixtures("candles")
async def test_bad_definitions_and_plugins_are_422_naming_the_field(api: Client) -> None:
    broken = {**SMA_CROSS, "long_entry": "sma(close, fast) > smaa(close, slow)"}
    error = await refused(api, "/api/v1/backtests", {**RANGE, "strategy": {"definition": broken}})
    detail = error["details"][0]
    assert detail["field"] == "strategy.definition.long_entry"
    assert "unknown function 'smaa'" in detail["message"] and "column 20" in detail["message"]
    error = await refused(
        api, "/api/v1/backtests", {**RANGE, "strategy": {"name": "fails_to_import"}}
    )
    assert error["details"][0]["field"] == "strategy.name"
    assert "unavailable" in error["details"][0]["message"]
    error = await refused(
        api,
        "/api/v1/backtests",
        {**RANGE, "strategy": {"name": "honest_momentum", "params": {"period": 0}}},
    )
    assert error["details"][0]["field"] == "strategy.params.period"


async def test_the_list_has_every_kind_and_names_are_unique_across_kinds(api: Client) -> None:
    saved = await api.post("/api/v1/strategies", json={"name": "my_cross", "definition": SMA_CROSS})
    assert saved.status == 201, await saved.text()
    preset = await api.post(
        "/api/v1/strategies",
        json={"name": "quick_ema", "strategy": "ema_cross", "params": {"fast": 3, "slow": 9}},
    )
    assert preset.status == 201, await preset.text()
    for taken in ("my_cross", "sma_cross", "vol_breakout"):
        again = await api.post("/api/v1/strategies", json={"name": taken, "definition": SMA_CROSS})
        assert again.status == 409, (taken, await again.text())
    listed = (await (await api.get("/api/v1/strategies", params={"limit": 1000})).json())["items"]
    kinds = {s["name"]: s["kind"] for s in listed}
    assert kinds["sma_cross"] == "builtin" and kinds["vol_breakout"] == "plugin"
    assert kinds["my_cross"] == "expression" and kinds["quick_ema"] == "preset"
    broken = next(s for s in listed if s["name"] == "fails_to_import")
    assert broken["available"] is False and "ModuleNotFoundError" in broken["error"]
    page = await (await api.get("/api/v1/strategies", params={"limit": 2, "offset": 1})).json()
    assert len(page["items"]) == 2 and page["total"] == len(listed)


@pytest.mark.usefixtures("candles")
async def test_saved_strategies_run_by_name_and_id(api: Client, plugin_settings: Settings) -> None:
    saved = await (
        await api.post("/api/v1/strategies", json={"name": "my_cross", "definition": SMA_CROSS})
    ).json()
    async with running_engine(plugin_settings):
        by_name = await backtest(api, {"name": "my_cross", "params": {"fast": 5, "slow": 20}})
        by_id = await backtest(api, {"id": saved["id"], "params": {"fast": 5, "slow": 20}})
        builtin = await backtest(api, {"name": "sma_cross", "params": {"fast": 5, "slow": 20}})
    assert by_name["metrics"] == by_id["metrics"] == builtin["metrics"]
    # The stored request holds the definition itself, not the name that pointed at it.
    assert by_name["request"]["strategy"]["definition"]["long_entry"] == SMA_CROSS["long_entry"]


@pytest.mark.usefixtures("candles")
async def test_failing_plugins_fail_their_job_and_the_worker_goes_on(
    api: Client, plugin_settings: Settings
) -> None:
    async with running_engine(plugin_settings):
        raises = await backtest(api, {"name": "raises"})
        peeks = await backtest(api, {"name": "peeks_ahead"})
        slow = await backtest(api, {"name": "too_slow"})
        honest = await backtest(api, {"name": "honest_momentum"})
    assert raises["status"] == "failed"
    assert raises["error"] == "strategy error: ZeroDivisionError: division by zero (raises.py:6)"
    assert peeks["status"] == "failed" and peeks["error"].startswith("look-ahead: ")
    assert slow["status"] == "failed" and slow["error"] == "timed out after 5 s"
    assert honest["status"] == "succeeded", honest["error"]
    assert honest["request"]["strategy"]["sha256"]


@pytest.mark.usefixtures("candles")
async def test_grids_and_walk_forward_take_expression_and_plugin_strategies(
    api: Client, plugin_settings: Settings
) -> None:
    grid = {"fast": [3, 5, 8], "slow": [20, 30]}

    async def optimize(strategy: dict[str, Any], **extra: Any) -> dict[str, Any]:
        body = {
            "kind": "grid",
            "backtest": {**RANGE, "strategy": strategy},
            "objective": "sharpe",
            **extra,
        }
        resp = await api.post("/api/v1/optimizations", json=body)
        assert resp.status == 202, await resp.text()
        done = await settled(api, resp.headers["Location"])
        assert done["status"] == "succeeded", done["error"]
        rows = await (
            await api.get(f"{resp.headers['Location']}/results", params={"limit": 1000})
        ).json()
        return {"body": done, "rows": rows["items"]}

    async with running_engine(plugin_settings):
        expressed = await optimize({"definition": SMA_CROSS}, param_grid=grid)
        builtin = await optimize({"name": "sma_cross"}, param_grid=grid)
        plugin = await optimize(
            {"name": "honest_momentum"},
            param_grid={"period": [2, 5, 9]},
            kind="walk_forward",
            walk_forward={"train_bars": 400, "test_bars": 200},
        )
    assert expressed["body"]["best"] == builtin["body"]["best"]
    assert [r["metrics"] for r in expressed["rows"]] == [r["metrics"] for r in builtin["rows"]]
    assert plugin["body"]["walk_forward"]["windows"] >= 3
