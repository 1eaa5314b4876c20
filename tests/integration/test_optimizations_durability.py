"""Optimizations under trouble: a worker killed mid-chunk, a cancel while chunks run."""

import dataclasses
import signal
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from devtools.waiting import poll_until
from domain.backtest import run_backtest
from shared.amqp import Topology
from shared.backtest_spec import BacktestSpec
from shared.market_data import load_candles
from shared.messages import RunOptimizationChunk
from shared.settings import Settings
from tests.support.broker import ready_messages
from tests.support.market import insert_candles, random_walk
from tests.support.processes import service_process
from tests.support.services import running_engine, settled

pytestmark = pytest.mark.integration

Client = TestClient[web.Request, web.Application]
T0 = 1_704_067_200_000


def _grid(minutes: int) -> dict[str, Any]:
    # 400 sets: a few seconds of one core on 300,000 bars, in 13 chunks (50 sets, then fewer).
    return {
        "kind": "grid",
        "backtest": {
            "category": "linear",
            "symbol": "BTCUSDT",
            "interval": "1",
            "start": T0,
            "end": T0 + minutes * 60_000,
            "strategy": {"name": "sma_cross"},
        },
        "param_grid": {"fast": list(range(2, 42, 2)), "slow": list(range(50, 250, 10))},
        "objective": "total_return",
    }


async def _progress(pool: asyncpg.Pool, optimization_id: str) -> tuple[str, int, int]:
    row = await pool.fetchrow(
        "SELECT status, progress_done, progress_total FROM optimizations WHERE id = $1::uuid",
        optimization_id,
    )
    assert row is not None
    return row["status"], row["progress_done"], row["progress_total"]


async def _until_some_done(pool: asyncpg.Pool, optimization_id: str) -> list[int]:
    seen: list[int] = []

    async def done() -> int:
        seen.append((await _progress(pool, optimization_id))[1])
        return seen[-1]

    # The first chunk waits for the worker's start, slow on a busy machine.
    await poll_until(done, within=180, every=0.005, what="a chunk finished")
    return seen


async def test_a_worker_killed_mid_optimization_loses_nothing_and_duplicates_nothing(
    api: Client, pool: asyncpg.Pool, settings: Settings
) -> None:
    minutes = 300_000
    await insert_candles(pool, "linear", "BTCUSDT", "1", random_walk(T0, minutes, "1"))
    body = _grid(minutes)
    location = (await api.post("/api/v1/optimizations", json=body)).headers["Location"]
    optimization_id = location.rsplit("/", 1)[1]
    async with service_process("services.engine", settings) as first:
        seen = await _until_some_done(pool, optimization_id)
        first.send_signal(signal.SIGKILL)
        await first.wait()
    status, done_before, total = await _progress(pool, optimization_id)
    assert status == "running" and 0 < done_before < total == 400, seen

    async with running_engine(settings):
        done = await settled(api, location, within=180)
    assert done["status"] == "succeeded", done["error"]
    assert done["progress"] == {"done": 400, "total": 400}
    page = await (await api.get(f"{location}/results", params={"limit": 1000})).json()
    assert page["total"] == len(page["items"]) == 400
    assert len({str(sorted(r["params"].items())) for r in page["items"]}) == 400

    spec = BacktestSpec.model_validate(body["backtest"])
    async with pool.acquire() as conn:
        candles = await load_candles(conn, "linear", "BTCUSDT", "1", spec.start, spec.end)
    config = spec.config()
    for row in page["items"][::97]:
        expected = run_backtest(candles, dataclasses.replace(config, params=row["params"]))
        assert row["metrics"] == pytest.approx(expected.metrics, rel=1e-12)
    assert done["best"] == page["items"][0]
    completed = await pool.fetchval(
        "SELECT count(*) FROM outbox WHERE message_type = 'OptimizationCompleted'"
    )
    assert completed == 1


async def test_cancel_stops_queued_and_running_chunks(
    api: Client, pool: asyncpg.Pool, settings: Settings
) -> None:
    minutes = 200_000
    await insert_candles(pool, "linear", "BTCUSDT", "1", random_walk(T0, minutes, "1"))
    location = (await api.post("/api/v1/optimizations", json=_grid(minutes))).headers["Location"]
    optimization_id = location.rsplit("/", 1)[1]
    chunks_queue = Topology(settings.amqp_prefix).queue_for(RunOptimizationChunk)
    async with running_engine(settings):
        await _until_some_done(pool, optimization_id)
        cancelled = await (await api.delete(location)).json()
        assert cancelled["status"] == "cancelled"
        rows_at_cancel = await pool.fetchval("SELECT count(*) FROM optimization_results")
        await poll_until(
            lambda: ready_messages(settings.amqp_url, chunks_queue),
            lambda ready: ready == 0,
            within=60,
            what="the queued chunks delivered and dropped",
        )
    # The worker has stopped: nothing can be written after this.
    rows_after = await pool.fetchval("SELECT count(*) FROM optimization_results")
    status, done_after, total = await _progress(pool, optimization_id)
    assert status == "cancelled" and done_after < total
    # At most the chunk that was committing as the cancel came in.
    assert rows_after - rows_at_cancel <= 50 and rows_after < total
    assert await ready_messages(settings.amqp_url, chunks_queue) == 0
