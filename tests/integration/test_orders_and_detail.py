"""Limit entries, maker fees, time stops, risk sizing and 1-minute `fill_detail` through the
services: backtests, a grid over `max_bars_in_trade` and a walk-forward, each equal to the
core on the same stored candles, minutes and fundings; and the 422s naming the field."""

from typing import Any

import asyncpg
import numpy as np
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from services.engine.core import BacktestConfig, run_backtest
from services.engine.fill_detail_loading import load_fill_detail
from services.engine.optimization.in_pool import set_config
from services.engine.perp_market_loading import load_perp_market
from services.ingest.kline_store import Series
from services.ingest.perpetual_pages import Fundings
from services.ingest.perpetual_store import store_fundings
from shared.backtest_spec import BacktestSpec
from shared.candles import Candles
from shared.market_data import load_candles_warmed
from shared.settings import Settings
from tests.support.market import T0, insert_candles
from tests.support.services import running_engine, settled

pytestmark = pytest.mark.integration

Client = TestClient[web.Request, web.Application]
HOUR = 3_600_000
HOURS = 24 * 12
REQUEST: dict[str, Any] = {
    "category": "linear",
    "symbol": "BTCUSDT",
    "interval": "60",
    "start": "2024-01-01T00:00:00Z",
    "end": "2024-01-12T23:00:00Z",
    "strategy": {"name": "sma_cross", "params": {"fast": 3, "slow": 8}},
    "direction": "long_short",
    "warmup_bars": 0,
    "leverage": 5.0,
    "stop_loss": 0.008,
    "take_profit": 0.02,
    "trailing_stop": 0.012,
    "fill_detail": "1",
    "entry_order": {"type": "limit", "offset": 0.001, "valid_bars": 2},
    "max_bars_in_trade": 4,
    "sizing": {"method": "risk", "risk": 0.02},
}


def hourly_from(minutes: Candles) -> Candles:
    """The hourly bars the minutes make (open first, high max, low min, close last)."""
    rows = minutes.open.size // 60
    shape = (rows, 60)
    return Candles(
        minutes.open_time[::60].copy(),
        minutes.open[::60].copy(),
        minutes.high.reshape(shape).max(axis=1),
        minutes.low.reshape(shape).min(axis=1),
        minutes.close[59::60].copy(),
        minutes.volume.reshape(shape).sum(axis=1),
        minutes.turnover.reshape(shape).sum(axis=1),
    )


@pytest.fixture
async def stored(pool: asyncpg.Pool) -> None:
    """Twelve days of BTCUSDT minutes and the hours they make, but for hour 30's minutes,
    with a funding every 8 hours; ETHUSDT's hours without minutes."""
    rng = np.random.default_rng(11)
    n = HOURS * 60
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.0006, n)))
    open_ = np.concatenate([[100.0], close[:-1]])
    wick = np.abs(rng.normal(0, 0.0004, (2, n)))
    minutes = Candles(
        T0 + 60_000 * np.arange(n, dtype=np.int64),
        open_,
        np.maximum(open_, close) * (1 + wick[0]),
        np.minimum(open_, close) * (1 - wick[1]),
        close,
        np.ones(n),
        close,
    )
    hours = hourly_from(minutes)
    kept = np.ones(minutes.open.size, np.bool_)
    kept[30 * 60 : 31 * 60 : 7] = False
    await insert_candles(pool, "linear", "BTCUSDT", "60", hours, fundings=False)
    await insert_candles(pool, "linear", "BTCUSDT", "1", minutes.select(kept), fundings=False)
    await insert_candles(pool, "linear", "ETHUSDT", "60", hours)
    times = T0 + 8 * HOUR * np.arange(HOURS // 8, dtype=np.int64)
    rates = np.random.default_rng(3).normal(0.0002, 0.0004, times.size)
    async with pool.acquire() as conn:
        await store_fundings(conn, Series("linear", "BTCUSDT", "60"), Fundings(times, rates), [])


async def core_result(pool: asyncpg.Pool, request: dict[str, Any], params: Any = None) -> Any:
    """The core on the stored candles, fundings and minutes the engine reads."""
    spec = BacktestSpec.model_validate(request)
    async with pool.acquire() as conn:
        candles = await load_candles_warmed(
            conn, spec.category, spec.symbol, spec.interval, spec.start, spec.end, 0
        )
        market = await load_perp_market(conn, spec, candles)
        detail = await load_fill_detail(conn, spec, candles)
    config = BacktestConfig.from_spec(spec)
    if params is not None:
        config = set_config(config, params)
    return run_backtest(candles, config, market=market, detail=detail)


async def succeeded(
    api: Client, settings: Settings, jobs: str, body: dict[str, Any], items: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    async with running_engine(settings):
        resp = await api.post(f"/api/v1/{jobs}", json=body)
        assert resp.status == 202, await resp.text()
        done = await settled(api, resp.headers["Location"])
    assert done["status"] == "succeeded", done["error"]
    page = await api.get(f"{resp.headers['Location']}/{items}", params={"limit": 1000})
    return done, (await page.json())["items"]


def same_metrics(got: dict[str, Any], expected: dict[str, Any]) -> None:
    for key, value in expected.items():
        if value is None:
            assert got[key] is None, key
        else:
            assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key


async def test_a_limit_entry_detail_backtest_through_the_queue(
    api: Client, pool: asyncpg.Pool, settings: Settings, stored: None
) -> None:
    done, trades = await succeeded(api, settings, "backtests", REQUEST, "trades")
    assert done["request"]["entry_order"] == {"type": "limit", "offset": 0.001, "valid_bars": 2}
    assert done["request"]["sizing"] == {"method": "risk", "risk": 0.02}
    expected = await core_result(pool, REQUEST)
    same_metrics(done["metrics"], expected.metrics)
    assert [t["exit_reason"] for t in trades] == [
        r["exit_reason"] for r in expected.trades.records()
    ]
    assert [t["funding"] for t in trades] == pytest.approx(
        [r["funding"] for r in expected.trades.records()], rel=1e-9, abs=1e-12
    )
    reasons = {t["exit_reason"] for t in trades}
    assert {"time_stop", "stop_loss"} <= reasons
    assert done["metrics"]["unfilled_orders"] > 0
    assert "1 bar without 1-minute detail; checked on the bar alone" in done["warnings"]
    # The minutes changed something: the same request on the bars alone differs.
    alone = await core_result(pool, {**REQUEST, "fill_detail": None})
    assert alone.metrics["final_equity"] != pytest.approx(expected.metrics["final_equity"])


async def test_a_grid_over_max_bars_in_trade_and_a_walk_forward_with_detail(
    api: Client, pool: asyncpg.Pool, settings: Settings, stored: None
) -> None:
    grid = {"fast": [3, 4], "max_bars_in_trade": [None, 2, 5]}
    body = {"kind": "grid", "backtest": REQUEST, "param_grid": grid, "objective": "sharpe"}
    done, rows = await succeeded(api, settings, "optimizations", body, "results")
    assert len(rows) == 6
    for row in rows:
        expected = await core_result(pool, REQUEST, row["params"])
        same_metrics(row["metrics"], expected.metrics)
    walk = {
        **body,
        "kind": "walk_forward",
        "walk_forward": {"train_bars": 100, "test_bars": 50, "anchored": False},
    }
    done, windows = await succeeded(api, settings, "optimizations", walk, "results")
    assert done["walk_forward"]["windows"] == len(windows) > 0


async def error_field(resp: Any) -> str:
    assert resp.status == 422, await resp.text()
    return str((await resp.json())["error"]["details"][0]["field"])


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"fill_detail": "120"}, "fill_detail"),  # longer than the interval
        ({"fill_detail": "7"}, "fill_detail"),  # not a Bybit interval
        ({"fill_detail": "5"}, "fill_detail"),  # not stored for the range
        ({"sizing": {"method": "risk", "risk": 0.01}, "stop_loss": None}, "sizing"),
        ({"sizing": {"method": "risk", "risk": 0.5}}, "sizing.risk.risk"),
        ({"entry_order": {"type": "limit", "offset": 0.3}}, "entry_order.limit.offset"),
        ({"entry_order": {"type": "limit", "valid_bars": 0}}, "entry_order.limit.valid_bars"),
        ({"max_bars_in_trade": 0}, "max_bars_in_trade"),
        ({"maker_fee_rate": 0.2}, "maker_fee_rate"),
    ],
)
async def test_bad_order_fields_are_refused_naming_the_field(
    api: Client, stored: None, change: dict[str, Any], field: str
) -> None:
    resp = await api.post("/api/v1/backtests", json={**REQUEST, **change})
    assert await error_field(resp) == field


async def test_a_grid_of_bad_time_stops_and_a_missing_detail_are_refused(
    api: Client, stored: None
) -> None:
    body = {"kind": "grid", "backtest": REQUEST, "param_grid": {"max_bars_in_trade": [2, 0]}}
    assert await error_field(await api.post("/api/v1/optimizations", json=body)) == (
        "param_grid.max_bars_in_trade.1"
    )
    eth = {**REQUEST, "symbol": "ETHUSDT"}
    body = {"kind": "grid", "backtest": eth, "param_grid": {"fast": [3]}}
    resp = await api.post("/api/v1/optimizations", json=body)
    assert await error_field(resp) == "backtest.fill_detail"
