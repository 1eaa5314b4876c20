"""Optimizations through the queue: API -> RabbitMQ -> engine chunks -> PostgreSQL -> API."""

import dataclasses
from typing import Any

import asyncpg
import numpy as np
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from services.engine.core import BacktestConfig, run_backtest
from services.engine.optimization.in_pool import bars_between
from shared.backtest_spec import BacktestSpec
from shared.candles import Candles
from shared.market_data import load_candles
from shared.settings import Settings
from shared.timestamps import iso_utc
from tests.support.market import insert_candles, random_walk
from tests.support.services import running_engine, settled

pytestmark = pytest.mark.integration

Client = TestClient[web.Request, web.Application]
T0 = 1_704_067_200_000
HOURS = 1000
BACKTEST: dict[str, Any] = {
    "category": "linear",
    "symbol": "BTCUSDT",
    "interval": "60",
    "start": T0,
    "end": T0 + HOURS * 3_600_000,
    "strategy": {"name": "sma_cross"},
    "fee_rate": 0.001,
    "direction": "long_short",
}
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
    return candles, BacktestConfig.from_spec(spec)


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
        test = run_backtest(
            bars_between(candles, 0, test_to), _with(config, chosen), trade_from=train_to
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
    assert done["best"]["params"] == rows[-1]["params"]
