"""Robustness through the services: a grid's and each walk-forward window's trials, dsr, pbo
and prob_oos_loss against the pure statistics on the full return matrix."""

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
from domain.metrics.performance import per_bar_returns
from domain.research.backtest_overfitting import BlockSums, probability_of_overfitting
from domain.research.sharpe_inference import ReturnMoments, deflated_sharpe
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
    "backtest": BACKTEST,  # the optimization tests' range: 1000 hours from T0
    "param_grid": {"fast": [3, 5, 8, 13], "slow": [10, 21, 34, 55]},
    "objective": "sharpe",
    "robustness_blocks": 8,
}
SETS = [{"fast": f, "slow": s} for f in (3, 5, 8, 13) for s in (10, 21, 34, 55) if f < s]


async def _stored(pool: asyncpg.Pool) -> tuple[Candles, BacktestConfig]:
    spec = BacktestSpec.model_validate(BACKTEST)
    async with pool.acquire() as conn:
        candles = await load_candles(conn, "linear", "BTCUSDT", "60", spec.start, spec.end)
    return candles, spec.config()


def _expected(candles: Candles, config: BacktestConfig, best: dict[str, Any]) -> dict[str, Any]:
    """The figures from every set's full per-bar returns, as the pure functions give them."""
    matrix = np.asarray(
        [
            per_bar_returns(
                run_backtest(candles, dataclasses.replace(config, params=p)).equity,
                config.execution.initial_capital,
            )
            for p in SETS
        ]
    )
    overfitting = probability_of_overfitting(BlockSums.of(matrix, 8))
    assert overfitting is not None
    moments = [ReturnMoments.of(r) for r in matrix]
    sharpes = [m.sharpe for m in moments if m is not None]
    best_moments = moments[SETS.index({k: best[k] for k in ("fast", "slow")})]
    return {
        "trials": len(SETS),
        "dsr": deflated_sharpe(best_moments, sharpes),
        "pbo": overfitting.pbo,
        "prob_oos_loss": overfitting.prob_oos_loss,
    }


async def test_a_grid_reports_its_robustness(
    api: Client, pool: asyncpg.Pool, settings: Settings
) -> None:
    await insert_candles(pool, "linear", "BTCUSDT", "60", random_walk(T0, HOURS, "60", seed=11))
    async with running_engine(settings):
        resp = await api.post("/api/v1/optimizations", json=GRID)
        assert resp.status == 202
        done = await settled(api, resp.headers["Location"])
    assert done["status"] == "succeeded", done["error"]
    assert done["request"]["robustness_blocks"] == 8
    candles, config = await _stored(pool)
    expected = _expected(candles, config, done["best"]["params"])
    assert done["robustness"] == pytest.approx(expected, abs=1e-9)
    assert expected["dsr"] is not None and 0.0 <= expected["pbo"] <= 1.0
    page = await (await api.get(resp.headers["Location"] + "/results?order_by=psr")).json()
    psrs = [r["metrics"]["psr"] for r in page["items"]]
    assert psrs == sorted(psrs, reverse=True) and all(0.0 <= p <= 1.0 for p in psrs)


async def test_each_walk_forward_window_reports_its_train_grids_robustness(
    api: Client, pool: asyncpg.Pool, settings: Settings
) -> None:
    await insert_candles(pool, "linear", "BTCUSDT", "60", random_walk(T0, HOURS, "60", seed=12))
    body = {
        **GRID,
        "kind": "walk_forward",
        "walk_forward": {"train_bars": 400, "test_bars": 200},
    }
    async with running_engine(settings):
        resp = await api.post("/api/v1/optimizations", json=body)
        done = await settled(api, resp.headers["Location"])
    assert done["status"] == "succeeded", done["error"]
    page = await (await api.get(resp.headers["Location"] + "/results?order_by=window")).json()
    rows = page["items"]
    assert [r["window"] for r in rows] == [0, 1, 2]
    candles, config = await _stored(pool)
    for k, row in enumerate(rows):
        train = bars_between(candles, k * 200, k * 200 + 400)
        expected = _expected(train, config, row["params"])
        assert row["robustness"] == pytest.approx(expected, abs=1e-9), k


@pytest.mark.parametrize("blocks", [3, 2, 22, "16"])
async def test_bad_robustness_blocks_answer_422_naming_the_field(api: Client, blocks: Any) -> None:
    resp = await api.post("/api/v1/optimizations", json={**GRID, "robustness_blocks": blocks})
    assert resp.status == 422
    assert "robustness_blocks" in await resp.text()
