"""Optimizations through the queue: API -> RabbitMQ -> engine chunks -> PostgreSQL -> API."""

import dataclasses
from typing import Any

import asyncpg
import numpy as np
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from domain.backtest import run_backtest
from domain.execution.config import BacktestConfig
from domain.market.candles import Candles
from domain.market.intervals import iso_utc
from services.engine.optimization.in_pool import bars_between
from shared.backtest_spec import BacktestSpec
from shared.market_data import load_candles
from shared.settings import Settings
from tests.support.market import insert_candles, random_walk
from tests.support.optimization_requests import BACKTEST, HOURS, T0
from tests.support.services import running_engine, settled

pytestmark = pytest.mark.integration

Client = TestClient[web.Request, web.Application]
GRID: dict[str, Any] = {
    "kind": "grid",
    "backtest": BACKTEST,
    "param_grid": {"fast": [5, 10, 20], "slow": [10, 30, 50]},
    "objective": "sharpe",
}


async def _stored(pool: asyncpg.Pool) -> tuple[Candles, BacktestConfig]:
    spec = BacktestSpec.model_validate(BACKTEST)
    async with pool.acquire() as conn:
        candles = await load_candles(conn, "linear", "BTCUSDT", "60", spec.start, spec.end)
    return candles, spec.config()


def _with(config: BacktestConfig, params: dict[str, Any]) -> BacktestConfig:
    return dataclasses.replace(config, params={**config.params, **params})


async def _all_rows(api: Client, location: str, order_by: str) -> list[dict[str, Any]]:
    page = await (await api.get(f"{location}/results", params={"order_by": order_by})).json()
    items: list[dict[str, Any]] = page["items"]
    assert page["total"] == len(items)
    return items


async def test_grid_rows_equal_single_backtests_and_best_is_the_top_row(
    api: Client, pool: asyncpg.Pool, settings: Settings
) -> None:
    await insert_candles(pool, "linear", "BTCUSDT", "60", random_walk(T0, HOURS, "60"))
    async with running_engine(settings):
        resp = await api.post("/api/v1/optimizations", json=GRID)
        assert resp.status == 202
        done = await settled(api, resp.headers["Location"])
    assert done["status"] == "succeeded", done["error"]
    assert done["skipped"] == 2 and done["progress"] == {"done": 7, "total": 7}

    rows = await _all_rows(api, resp.headers["Location"], "sharpe")
    candles, config = await _stored(pool)
    assert len(rows) == 7
    for row in rows:
        expected = run_backtest(candles, _with(config, row["params"])).metrics
        assert row["metrics"] == pytest.approx(expected, rel=1e-12)
    sharpes = [r["metrics"]["sharpe"] for r in rows]
    assert sharpes == sorted(sharpes, reverse=True)
    assert done["best"] == rows[0]
    by_drawdown = await _all_rows(api, resp.headers["Location"], "max_drawdown")
    drawdowns = [r["metrics"]["max_drawdown"] for r in by_drawdown]
    assert drawdowns == sorted(drawdowns)
    chunks = await pool.fetchval("SELECT count(*) FROM optimization_chunks")
    assert chunks > 1  # the work was split for several workers


def _ranked_first(results: list[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, Any]:
    """The independent choice: highest sharpe, nulls last, the earlier set on ties."""
    best = None
    for params, metrics in results:
        value = metrics["sharpe"]
        if value is not None and (best is None or value > best[1]):
            best = (params, value)
    return best[0] if best else results[0][0]


def _chained(equities: list[np.ndarray], initial: float) -> np.ndarray:
    curve, scale = [], 1.0
    for equity in equities:
        curve.append(equity * scale)
        scale *= equity[-1] / initial
    return np.concatenate(curve)


@pytest.mark.parametrize("anchored", [False, True])
async def test_walk_forward_windows_choices_and_chained_metrics(
    api: Client, pool: asyncpg.Pool, settings: Settings, anchored: bool
) -> None:
    await insert_candles(pool, "linear", "BTCUSDT", "60", random_walk(T0, HOURS, "60", seed=3))
    plan = {"train_bars": 300, "test_bars": 150, "anchored": anchored}
    body = {**GRID, "kind": "walk_forward", "walk_forward": plan}
    async with running_engine(settings):
        resp = await api.post("/api/v1/optimizations", json=body)
        done = await settled(api, resp.headers["Location"])
    assert done["status"] == "succeeded", done["error"]
    # 1000 bars: tests end at 450, 600, 750, 900; a fifth would end at 1050.
    assert done["progress"] == {"done": 4 * 8, "total": 4 * 8}
    rows = await _all_rows(api, resp.headers["Location"], "window")
    assert [r["window"] for r in rows] == [0, 1, 2, 3]

    candles, config = await _stored(pool)
    times = candles.open_time
    sets = [{"fast": f, "slow": s} for f in (5, 10, 20) for s in (10, 30, 50) if f < s]
    equities = []
    for k, row in enumerate(rows):
        train_from, train_to = (0 if anchored else k * 150), k * 150 + 300
        test_to = train_to + 150
        assert row["train_start"] == iso_utc(int(times[train_from]))
        assert row["train_end"] == iso_utc(int(times[train_to - 1]))
        assert row["test_start"] == iso_utc(int(times[train_to]))
        assert row["test_end"] == iso_utc(int(times[test_to - 1]))
        train = bars_between(candles, train_from, train_to)
        trained = [(p, run_backtest(train, _with(config, p)).metrics) for p in sets]
        chosen = _ranked_first(trained)
        assert {k: row["params"][k] for k in chosen} == chosen
        chosen_metrics = next(m for p, m in trained if p == chosen)
        assert row["train_metrics"] == pytest.approx(chosen_metrics, rel=1e-12)
        # Warmed on 3 x the longest window before the test bars, not on every bar from 0.
        first = max(0, train_to - 3 * max(chosen.values()))
        test = run_backtest(
            bars_between(candles, first, test_to),
            _with(config, chosen),
            trade_from=train_to - first,
        )
        assert row["test_metrics"] == pytest.approx(test.metrics, rel=1e-12)
        equities.append(test.equity)

    chained = _chained(equities, 10_000.0)
    returns = np.diff(np.concatenate([[10_000.0], chained])) / np.concatenate(
        [[10_000.0], chained[:-1]]
    )
    summary = done["walk_forward"]
    assert summary["windows"] == 4
    metrics = summary["test_metrics"]
    assert metrics["final_equity"] == pytest.approx(chained[-1], rel=1e-12)
    assert metrics["total_return"] == pytest.approx(chained[-1] / 10_000.0 - 1, rel=1e-9)
    assert metrics["sharpe"] == pytest.approx(
        returns.mean() / returns.std(ddof=1) * np.sqrt(24 * 365), rel=1e-9
    )
    peaks = np.maximum.accumulate(chained)
    assert metrics["max_drawdown"] == pytest.approx(np.max(1 - chained / peaks), rel=1e-12)
    assert metrics["num_trades"] == sum(r["test_metrics"]["num_trades"] for r in rows)
    # The last window's choice, the set to trade next.
    assert done["best"] == {
        k: rows[-1][k] for k in ("window", "params", "train_metrics", "test_metrics")
    }


def _grid_ranked(
    rows: list[dict[str, Any]], sets: list[dict[str, int]], metric: str
) -> list[dict[str, Any]]:
    """The contract's order, written independently: the metric (higher is better but for
    max_drawdown), nulls last, then the set that comes first in the grid's order."""
    sign = 1 if metric == "max_drawdown" else -1

    def key(row: dict[str, Any]) -> tuple[bool, float, int]:
        value = row["metrics"][metric]
        position = sets.index({k: row["params"][k] for k in sets[0]})
        return (value is None, 0.0 if value is None else sign * value, position)

    return sorted(rows, key=key)


async def test_ties_and_nulls_go_to_the_earlier_set_in_the_grid_order(
    api: Client, pool: asyncpg.Pool, settings: Settings
) -> None:
    # 400 bars: an SMA of 600 or 700 bars never exists, so those sets never trade: their
    # sharpe is null and their total_return and max_drawdown tie at 0.
    await insert_candles(pool, "linear", "BTCUSDT", "60", random_walk(T0, 400, "60"))
    # The grid's order: slow varies slowest, fast fastest; fast 5 before fast 10 (which a
    # text order of the parameters would put first).
    mixed = {**GRID, "param_grid": {"slow": [700, 600, 30], "fast": [5, 10]}}
    untraded = {**GRID, "param_grid": {"slow": [700, 600], "fast": [5, 10]}}
    async with running_engine(settings):
        locations = []
        for body in (mixed, untraded, {**untraded, "objective": "total_return"}):
            resp = await api.post("/api/v1/optimizations", json=body)
            assert resp.status == 202, await resp.text()
            locations.append(resp.headers["Location"])
        done = [await settled(api, location) for location in locations]
    assert [d["status"] for d in done] == ["succeeded"] * 3, [d["error"] for d in done]

    sets = [{"slow": s, "fast": f} for s in (700, 600, 30) for f in (5, 10)]
    for metric in ("sharpe", "total_return", "max_drawdown"):
        rows = await _all_rows(api, locations[0], metric)
        assert rows == _grid_ranked(rows, sets, metric), metric
    by_sharpe = await _all_rows(api, locations[0], "sharpe")
    assert [r["params"] for r in by_sharpe[2:]] == [
        {"fast": 5, "slow": 700},
        {"fast": 10, "slow": 700},
        {"fast": 5, "slow": 600},
        {"fast": 10, "slow": 600},
    ]
    assert done[0]["best"] == by_sharpe[0]
    # All null (sharpe) or all tied (total_return): the first set of the grid wins.
    for finished, location in zip(done[1:], locations[1:], strict=True):
        assert finished["best"]["params"] == {"fast": 5, "slow": 700}
        assert finished["best"] == (await _all_rows(api, location, "sharpe"))[0]


async def test_walk_forward_windows_break_ties_by_the_grid_order(
    api: Client, pool: asyncpg.Pool, settings: Settings
) -> None:
    await insert_candles(pool, "linear", "BTCUSDT", "60", random_walk(T0, 1000, "60", seed=5))
    plan = {"train_bars": 300, "test_bars": 150}
    body = {
        **GRID,
        "kind": "walk_forward",
        "walk_forward": plan,
        # On 300 train bars no set trades: every train sharpe is null.
        "param_grid": {"slow": [700, 600], "fast": [10, 5]},
    }
    async with running_engine(settings):
        resp = await api.post("/api/v1/optimizations", json=body)
        done = await settled(api, resp.headers["Location"])
    assert done["status"] == "succeeded", done["error"]
    rows = await _all_rows(api, resp.headers["Location"], "window")
    assert [r["params"] for r in rows] == [{"fast": 10, "slow": 700}] * 4
    assert all(r["train_metrics"]["sharpe"] is None for r in rows)
    assert done["best"]["window"] == 3 and done["best"]["params"] == {"fast": 10, "slow": 700}
    # Test windows tied (or null) on a metric list in window order.
    by_sharpe = await _all_rows(api, resp.headers["Location"], "sharpe")
    nulls = [r["window"] for r in by_sharpe if r["test_metrics"]["sharpe"] is None]
    assert [r["window"] for r in by_sharpe][len(by_sharpe) - len(nulls) :] == sorted(nulls)


@pytest.mark.parametrize(
    ("plan", "field"),
    [
        ({"train_bars": 49, "test_bars": 10}, "walk_forward.train_bars"),
        ({"train_bars": 50, "test_bars": 9}, "walk_forward.test_bars"),
        ({"train_bars": 900, "test_bars": 150}, "walk_forward.train_bars"),
    ],
)
async def test_walk_forward_bounds_answer_422_naming_the_field(
    api: Client, pool: asyncpg.Pool, plan: dict[str, int], field: str
) -> None:
    await insert_candles(pool, "linear", "BTCUSDT", "60", random_walk(T0, 1000, "60"))
    body = {**GRID, "kind": "walk_forward", "walk_forward": plan}
    resp = await api.post("/api/v1/optimizations", json=body)
    assert resp.status == 422
    error = (await resp.json())["error"]
    assert field in str(error), error
    assert await pool.fetchval("SELECT count(*) FROM optimizations") == 0


async def test_grid_rows_warm_up_on_stored_bars_before_the_start_as_backtests_do(
    api: Client, pool: asyncpg.Pool, settings: Settings
) -> None:
    series = random_walk(T0, 1000, "60", seed=9)
    await insert_candles(pool, "linear", "BTCUSDT", "60", series)
    start = 400
    backtest = {
        **BACKTEST,
        "start": int(series.open_time[start]),
        "strategy": {"name": "ema_cross"},
    }
    body = {**GRID, "backtest": backtest, "param_grid": {"fast": [5, 12], "slow": [20, 100, 200]}}
    async with running_engine(settings):
        resp = await api.post("/api/v1/optimizations", json=body)
        done = await settled(api, resp.headers["Location"])
        assert done["status"] == "succeeded", done["error"]
        best = done["best"]["params"]
        job = await api.post(
            "/api/v1/backtests",
            json={**backtest, "strategy": {"name": "ema_cross", "params": best}},
        )
        single = await settled(api, job.headers["Location"])
    rows = await _all_rows(api, resp.headers["Location"], "sharpe")
    assert len(rows) == 6
    spec = BacktestSpec.model_validate(backtest)
    config = spec.config()
    for row in rows:
        # Each set's own warm-up, 3 x slow, from the 400 bars stored before the start.
        warmup = min(3 * row["params"]["slow"], start)
        expected = run_backtest(
            bars_between(series, start - warmup, len(series)),
            _with(config, row["params"]),
            trade_from=warmup,
        )
        assert row["metrics"] == pytest.approx(expected.metrics, rel=1e-12), row["params"]
    # The best row is what a backtest of its set answers.
    assert single["status"] == "succeeded", single["error"]
    assert done["best"]["metrics"] == pytest.approx(single["metrics"], rel=1e-12)
