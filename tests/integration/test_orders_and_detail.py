"""Limit entries, maker fees, time stops, risk sizing and 1-minute `fill_detail` through the
services: backtests, a grid over `max_bars_in_trade` and a walk-forward, each equal to the
core on the same stored candles, minutes and fundings; and the 422s naming the field."""

from typing import Any

import asyncpg
import numpy as np
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from domain.backtest import run_backtest
from domain.market.candles import Candles
from services.engine.fill_detail_loading import load_fill_detail
from services.engine.optimization.in_pool import set_config
from services.engine.perp_market_loading import load_perp_market
from services.ingest.kline_store import Series
from services.ingest.perpetual_pages import Fundings
from services.ingest.perpetual_store import store_fundings
from shared.backtest_spec import BacktestSpec
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
    config = spec.config()
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
    assert {t["entry_order"] for t in trades} == {"limit"}
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
    # Counts are the windows' totals.
    chained = done["walk_forward"]["test_metrics"]
    for count in ("unfilled_orders", "liquidations", "num_trades"):
        assert chained[count] == sum(w["test_metrics"][count] for w in windows), count
    assert sum(w["test_metrics"]["unfilled_orders"] for w in windows) > 0


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


DAY = 24 * HOUR
DAYS = 10


@pytest.fixture
async def daily(pool: asyncpg.Pool) -> tuple[Candles, Candles]:
    """Ten days of SOLUSDT: 4-hour candles, the days they make, fundings every 8 hours."""
    rows: list[tuple[float, float, float, float]] = []
    for day in range(DAYS):
        for k in range(6):
            open_ = 100 + day + 0.1 * k
            rows.append((open_, open_ + 0.3, open_ - 0.3, open_ + 0.1))
    prices = np.array(rows)
    n = len(rows)
    fours = Candles(
        T0 + 4 * HOUR * np.arange(n, dtype=np.int64),
        prices[:, 0].copy(),
        prices[:, 1].copy(),
        prices[:, 2].copy(),
        prices[:, 3].copy(),
        np.ones(n),
        prices[:, 3].copy(),
    )
    shape = (DAYS, 6)
    days = Candles(
        T0 + DAY * np.arange(DAYS, dtype=np.int64),
        fours.open[::6].copy(),
        fours.high.reshape(shape).max(axis=1),
        fours.low.reshape(shape).min(axis=1),
        fours.close[5::6].copy(),
        np.full(DAYS, 6.0),
        fours.turnover.reshape(shape).sum(axis=1),
    )
    await insert_candles(pool, "linear", "SOLUSDT", "D", days, fundings=False)
    await insert_candles(pool, "linear", "SOLUSDT", "240", fours, fundings=False)
    times = T0 + 8 * HOUR * np.arange(3 * DAYS, dtype=np.int64)
    async with pool.acquire() as conn:
        series = Series("linear", "SOLUSDT", "D")
        await store_fundings(conn, series, Fundings(times, np.full(times.size, 0.0001)), [])
    return days, fours


async def test_daily_funding_at_its_exact_time_through_the_queue(
    api: Client, pool: asyncpg.Pool, settings: Settings, daily: tuple[Candles, Candles]
) -> None:
    """Long from day 1's open at 10x: it pays day 1's 08:00 and 16:00 fundings and all three
    of every later day, at the day's mark open, or with 4-hour detail at the open of the
    4-hour candle containing each; the old rule would have charged it two fewer."""
    days, fours = daily
    request = {
        "category": "linear",
        "symbol": "SOLUSDT",
        "interval": "D",
        "start": "2024-01-01T00:00:00Z",
        "end": "2024-01-10T00:00:00Z",
        "strategy": {"definition": {"params": {}, "long_entry": "close > 0"}, "params": {}},
        "warmup_bars": 0,
        "leverage": 10.0,
        "position_size": 0.5,
    }
    qty = 10_000 * 0.5 / (days.open[1] * (0.1 + 0.00055))
    rate = 0.0001
    for detail in (None, "240"):
        body = {**request, "fill_detail": detail}
        done, trades = await succeeded(api, settings, "backtests", body, "trades")
        assert len(trades) == 1 and trades[0]["qty"] == pytest.approx(qty, rel=1e-12)
        assert trades[0]["entry_order"] == "market"
        if detail is None:
            marks = [days.open[1]] * 2 + [days.open[d] for d in range(2, DAYS) for _ in range(3)]
        else:
            # 00:00, 08:00 and 16:00 open the 1st, 3rd and 5th 4-hour candle of a day.
            marks = [fours.open[6 + 2], fours.open[6 + 4]]
            marks += [fours.open[6 * d + k] for d in range(2, DAYS) for k in (0, 2, 4)]
        assert trades[0]["funding"] == pytest.approx(qty * rate * sum(marks), rel=1e-12)
        old_rule = qty * rate * sum(3 * days.open[d] for d in range(2, DAYS))
        assert trades[0]["funding"] > old_rule
        expected = await core_result(pool, body)
        same_metrics(done["metrics"], expected.metrics)
