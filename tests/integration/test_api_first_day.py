"""What a new user meets first: names that stick, forgiving inputs, warnings for slips, and
the per-period returns and drawdown the API answers (issue 20)."""

import json
from datetime import UTC, datetime
from typing import Any

import asyncpg
import numpy as np
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.support.market import BACKTEST_REQUEST, T0, insert_candles, random_walk

pytestmark = pytest.mark.integration

Client = TestClient[web.Request, web.Application]
HOUR = 3_600_000
DEFINITION = {
    "name": "donchian_rsi",
    "params": {"period": {"type": "int", "default": 20, "minimum": 2, "maximum": 200}},
    "long_entry": "close > highest(shift(high, 1), period) and rsi(close, 14) < 80",
}


@pytest.fixture
async def hourly(pool: asyncpg.Pool) -> None:
    await insert_candles(pool, "linear", "BTCUSDT", "60", random_walk(T0, 500, "60"))


async def _created(api: Client, body: dict[str, Any], path: str = "/api/v1/backtests") -> Any:
    resp = await api.post(path, json=body)
    assert resp.status == 202, await resp.text()
    return await resp.json()


async def test_symbols_are_case_insensitive_and_intervals_take_their_aliases(
    api: Client, hourly: None
) -> None:
    created = await _created(api, {**BACKTEST_REQUEST, "symbol": "btcusdt", "interval": "1h"})
    assert created["request"]["symbol"] == "BTCUSDT"
    assert created["request"]["interval"] == "60"
    listed = await (await api.get("/api/v1/backtests", params={"symbol": "btcusdt"})).json()
    assert [b["id"] for b in listed["items"]] == [created["id"]]
    klines = await api.get(
        "/api/v1/klines",
        params={
            "category": "linear",
            "symbol": "btcusdt",
            "interval": "1H",
            "start": T0,
            "end": T0 + 3 * HOUR,
        },
    )
    assert klines.status == 200 and len((await klines.json())["items"]) == 4
    month = await api.post("/api/v1/backtests", json={**BACKTEST_REQUEST, "interval": "1M"})
    assert month.status == 422, "1M is not a minute; M is the month, never an alias"


async def test_a_fee_rate_typed_in_percent_is_accepted_with_a_warning(
    api: Client, hourly: None
) -> None:
    created = await _created(api, {**BACKTEST_REQUEST, "fee_rate": 0.055})
    assert len(created["warnings"]) == 1
    assert "fee_rate 0.055" in created["warnings"][0] and "0.00055" in created["warnings"][0]
    plain = await _created(api, {**BACKTEST_REQUEST, "fee_rate": 0.001})
    assert plain["warnings"] == []
    grid = {
        "kind": "grid",
        "backtest": {**BACKTEST_REQUEST, "fee_rate": 0.055},
        "param_grid": {"fast": [5, 10]},
    }
    optimization = await _created(api, grid, "/api/v1/optimizations")
    assert optimization["warnings"] == created["warnings"]


async def test_every_job_answers_its_strategy_name_and_the_filter_matches_it(
    api: Client, hourly: None
) -> None:
    named = await _created(
        api, {**BACKTEST_REQUEST, "strategy": {"definition": DEFINITION, "params": {}}}
    )
    assert named["strategy_name"] == "donchian_rsi"
    unnamed_definition = {k: v for k, v in DEFINITION.items() if k != "name"}
    unnamed = await _created(
        api, {**BACKTEST_REQUEST, "strategy": {"definition": unnamed_definition}}
    )
    assert unnamed["strategy_name"] == "expression"
    builtin = await _created(api, BACKTEST_REQUEST)
    assert builtin["strategy_name"] == "sma_cross"
    for name, expected in (("donchian_rsi", named), ("expression", unnamed)):
        listed = await (await api.get("/api/v1/backtests", params={"strategy": name})).json()
        assert [b["id"] for b in listed["items"]] == [expected["id"]]
        one = await (await api.get(f"/api/v1/backtests/{expected['id']}")).json()
        assert one["strategy_name"] == name
    bad = {**BACKTEST_REQUEST, "strategy": {"definition": {**DEFINITION, "name": "Bad Name"}}}
    resp = await api.post("/api/v1/backtests", json=bad)
    assert resp.status == 422
    details = (await resp.json())["error"]["details"]
    assert [d["field"] for d in details] == ["strategy.definition.name"]

    saved = await (
        await api.post("/api/v1/strategies", json={"name": "My Donchian", "definition": DEFINITION})
    ).json()
    grid = {
        "kind": "grid",
        "backtest": {**BACKTEST_REQUEST, "strategy": {"id": saved["id"]}},
        "param_grid": {"period": [10, 20]},
        "objective": "calmar",
    }
    optimization = await _created(api, grid, "/api/v1/optimizations")
    assert optimization["strategy_name"] == "My Donchian"
    listed = await (
        await api.get("/api/v1/optimizations", params={"strategy": "My Donchian"})
    ).json()
    assert [o["id"] for o in listed["items"]] == [optimization["id"]]
    others = await (await api.get("/api/v1/optimizations", params={"strategy": "x"})).json()
    assert others["total"] == 0


async def test_results_are_ordered_by_the_objective_by_default(
    api: Client, pool: asyncpg.Pool, hourly: None
) -> None:
    grid = {
        "kind": "grid",
        "backtest": {**BACKTEST_REQUEST, "strategy": {"name": "sma_cross"}},
        "param_grid": {"fast": [5, 10, 20], "slow": [30]},
        "objective": "calmar",
    }
    created = await _created(api, grid, "/api/v1/optimizations")
    # By Sharpe the wipe-out would come first; by calmar, the objective, it is last.
    for key, sharpe, calmar in (("a", 3.0, -0.9), ("b", 1.0, 2.0), ("c", 2.0, 1.0)):
        row = {"params": {"fast": 1}, "metrics": {"sharpe": sharpe, "calmar": calmar}}
        await pool.execute(
            "INSERT INTO optimization_results VALUES ($1, $2, $3::text::jsonb)",
            created["id"],
            key,
            json.dumps(row),
        )
    location = f"/api/v1/optimizations/{created['id']}/results"
    ranked = await (await api.get(location)).json()
    assert [r["metrics"]["calmar"] for r in ranked["items"]] == [2.0, 1.0, -0.9]
    by_sharpe = await (await api.get(location, params={"order_by": "sharpe"})).json()
    assert [r["metrics"]["sharpe"] for r in by_sharpe["items"]] == [3.0, 2.0, 1.0]


def _slow_period_returns(
    times: list[int], equity: list[float], capital: float, label: Any
) -> list[tuple[str, float]]:
    """The obvious way: walk the points, close a period when the next point is in another."""
    out: list[tuple[str, float]] = []
    before = capital
    for i, (t, value) in enumerate(zip(times, equity, strict=True)):
        here = label(datetime.fromtimestamp(t / 1000, UTC))
        if i + 1 == len(times) or label(datetime.fromtimestamp(times[i + 1] / 1000, UTC)) != here:
            out.append((here, value / before - 1.0))
            before = value
    return out


LABELS = {
    "year": lambda d: f"{d.year}",
    "month": lambda d: f"{d.year}-{d.month:02d}",
    "week": lambda d: f"{d.isocalendar().year}-W{d.isocalendar().week:02d}",
    "day": lambda d: d.strftime("%Y-%m-%d"),
}


async def _stored_curve(api: Client, pool: asyncpg.Pool, times: Any, values: Any) -> str:
    created = await _created(api, {**BACKTEST_REQUEST, "initial_capital": 5_000})
    await pool.execute(
        "INSERT INTO equity VALUES ($1, $2, $3, $4)",
        created["id"],
        len(times),
        times.astype("<i8").tobytes(),
        values.astype("<f8").tobytes(),
    )
    return f"/api/v1/backtests/{created['id']}"


@pytest.mark.parametrize("period", ["year", "month", "week", "day"])
async def test_returns_per_period_equal_a_slow_walk_over_the_curve(
    api: Client, pool: asyncpg.Pool, hourly: None, period: str, monkeypatch: Any
) -> None:
    # Six-hourly points over 14 months, read in slices of 500 points so periods straddle them.
    monkeypatch.setattr("services.api.period_returns.SLICE_POINTS", 500)
    start = int(datetime(2024, 12, 20, tzinfo=UTC).timestamp() * 1000)
    times = start + 6 * HOUR * np.arange(1_700, dtype=np.int64)
    rng = np.random.default_rng(3)
    values = 5_000 * np.exp(np.cumsum(rng.normal(0, 0.01, times.size)))
    location = await _stored_curve(api, pool, times, values)
    got = await (await api.get(f"{location}/returns", params={"period": period})).json()
    expected = _slow_period_returns(times.tolist(), values.tolist(), 5_000.0, LABELS[period])
    assert got["total"] == len(expected) == len(got["items"])
    assert [item["period"] for item in got["items"]] == [label for label, _ in expected]
    assert [item["return"] for item in got["items"]] == pytest.approx(
        [r for _, r in expected], rel=1e-12, abs=1e-15
    )
    if period == "month":
        assert got["items"][0]["period"] == "2024-12" and got["items"][1]["period"] == "2025-01"


async def test_returns_default_to_months_and_refuse_other_periods(
    api: Client, pool: asyncpg.Pool, hourly: None
) -> None:
    times = T0 + 24 * HOUR * np.arange(40, dtype=np.int64)
    location = await _stored_curve(api, pool, times, np.full(40, 5_500.0))
    got = await (await api.get(f"{location}/returns")).json()
    assert got["items"] == [
        {"period": "2024-01", "return": pytest.approx(0.1)},
        {"period": "2024-02", "return": 0.0},
    ]
    bad = await api.get(f"{location}/returns", params={"period": "hour"})
    assert bad.status == 422
    assert [d["field"] for d in (await bad.json())["error"]["details"]] == ["period"]


async def test_the_equity_page_answers_each_point_s_drawdown(
    api: Client, pool: asyncpg.Pool, hourly: None, monkeypatch: Any
) -> None:
    monkeypatch.setattr("services.api.equity_stream.SLICE_POINTS", 300)
    times = T0 + HOUR * np.arange(1_000, dtype=np.int64)
    rng = np.random.default_rng(9)
    values = 5_000 * np.exp(np.cumsum(rng.normal(0, 0.02, times.size)))
    location = await _stored_curve(api, pool, times, values)
    full = await (await api.get(f"{location}/equity")).json()
    peak, expected = -np.inf, []
    for value in values.tolist():
        peak = max(peak, value)
        expected.append(1.0 - value / peak)
    got = [p["drawdown"] for p in full["items"]]
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert max(got) > 0.1 and min(got) == 0.0
    sampled = await (await api.get(f"{location}/equity", params={"points": 50})).json()
    by_time = {p["time"]: p["drawdown"] for p in full["items"]}
    assert all(p["drawdown"] == by_time[p["time"]] for p in sampled["items"])


async def test_the_report_is_titled_by_the_strategy_name_and_draws_the_whole_curve_s_drawdown(
    api: Client, pool: asyncpg.Pool, hourly: None
) -> None:
    definition = {k: v for k, v in DEFINITION.items() if k != "name"}
    created = await _created(api, {**BACKTEST_REQUEST, "strategy": {"definition": definition}})
    times = T0 + HOUR * np.arange(5_000, dtype=np.int64)
    values = np.full(5_000, 5_000.0)
    values[2_500] = 9_000.0  # a one-point peak the chart's 1,500 points leave out
    await pool.execute(
        "INSERT INTO equity VALUES ($1, $2, $3, $4)",
        created["id"],
        len(times),
        times.astype("<i8").tobytes(),
        values.astype("<f8").tobytes(),
    )
    page = await (await api.get(f"/api/v1/backtests/{created['id']}/report")).text()
    assert "Backtest report: BTCUSDT 60 expression</h1>" in page  # it said "None"
    # The drawdown's lowest label is the fall from the 9,000 peak: 1 - 5,000 / 9,000.
    assert "-0.4444" in page.split('id="drawdown"')[1]
