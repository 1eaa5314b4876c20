"""Backtests through the queue: API -> RabbitMQ -> engine -> PostgreSQL -> API."""

import signal
from typing import Any
from uuid import UUID

import aio_pika
import asyncpg
import numpy as np
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from devtools.waiting import poll_until
from domain.backtest import run_backtest
from domain.market.intervals import iso_utc
from services.engine.backtests.consumer import pool_work
from services.engine.backtests.parsed_request import parse_backtest
from services.engine.pool_transfer import call_shipped, shipped
from services.engine.provenance import CandlesDigests
from shared.amqp import Topology
from shared.backtest_spec import BacktestSpec
from shared.market_data import load_candles
from shared.messages import RunBacktest
from shared.settings import Settings
from tests.support.broker import next_message, ready_messages
from tests.support.market import insert_candles, random_walk
from tests.support.processes import service_process
from tests.support.services import running_engine, settled

pytestmark = pytest.mark.integration

Client = TestClient[web.Request, web.Application]
T0 = 1_704_067_200_000
BACKTEST: dict[str, Any] = {
    "category": "linear",
    "symbol": "BTCUSDT",
    "interval": "60",
    "start": "2024-01-01T00:00:00Z",
    "end": "2024-03-01T00:00:00Z",
    "strategy": {"name": "sma_cross", "params": {"fast": 5, "slow": 20}},
    "fee_rate": 0.001,
    "direction": "long_short",
}


async def test_a_backtest_runs_through_the_queue_and_matches_the_core(
    api: Client, pool: asyncpg.Pool, settings: Settings
) -> None:
    await insert_candles(pool, "linear", "BTCUSDT", "60", random_walk(T0, 2000, "60"))
    async with running_engine(settings):
        resp = await api.post("/api/v1/backtests", json=BACKTEST)
        done = await settled(api, resp.headers["Location"])
    assert done["status"] == "succeeded", done["error"]
    assert done["started_at"] and done["finished_at"] and done["run_seconds"] is not None

    spec = BacktestSpec.model_validate(BACKTEST)
    async with pool.acquire() as conn:
        candles = await load_candles(conn, "linear", "BTCUSDT", "60", spec.start, spec.end)
    expected = run_backtest(candles, spec.config())
    assert done["metrics"] == pytest.approx(
        {k: v for k, v in expected.metrics.items()}, rel=1e-12, nan_ok=False
    )
    trades = await (
        await api.get(f"{resp.headers['Location']}/trades", params={"limit": 1000})
    ).json()
    assert trades["total"] == len(expected.trades) > 0
    assert [t["pnl"] for t in trades["items"]] == pytest.approx(
        expected.trades.pnl.tolist(), rel=1e-12
    )
    equity = await (await api.get(f"{resp.headers['Location']}/equity")).json()
    assert equity["total"] == len(expected.equity)
    assert np.allclose([p["equity"] for p in equity["items"]], expected.equity, rtol=1e-12)
    # Its event is published by a relay (the API's here) some time after the job settled.
    await poll_until(
        lambda: pool.fetchval(
            """SELECT count(*) FROM outbox
               WHERE message_type = 'BacktestCompleted' AND published_at IS NOT NULL"""
        ),
        lambda sent: sent >= 1,
        within=30,
        what="BacktestCompleted published",
    )
    assert (
        await pool.fetchval("SELECT count(*) FROM outbox WHERE message_type = 'BacktestCompleted'")
        == 1
    )


async def test_a_job_with_no_candles_left_fails_with_its_reason(
    api: Client, pool: asyncpg.Pool, settings: Settings
) -> None:
    await insert_candles(pool, "linear", "BTCUSDT", "60", random_walk(T0, 500, "60"))
    resp = await api.post("/api/v1/backtests", json=BACKTEST)
    await pool.execute("DELETE FROM klines")
    async with running_engine(settings):
        done = await settled(api, resp.headers["Location"])
    assert done["status"] == "failed" and "no stored candles" in done["error"]


async def test_a_stored_request_the_engine_cannot_parse_fails_its_job_once_with_its_reason(
    api: Client, pool: asyncpg.Pool, settings: Settings
) -> None:
    """Issue 19: the consumer parses the stored request once, before loading anything; one it
    cannot run fails its job with the reason (acknowledged: no retries, no dead letter)."""
    await insert_candles(pool, "linear", "BTCUSDT", "60", random_walk(T0, 500, "60"))
    location = (await api.post("/api/v1/backtests", json=BACKTEST)).headers["Location"]
    await pool.execute(
        "UPDATE backtests SET request = jsonb_set(request, '{fee_rate}', '-1') WHERE id = $1",
        UUID(location.rsplit("/", 1)[1]),
    )
    async with running_engine(settings):
        failed = await settled(api, location)
        later = (await api.post("/api/v1/backtests", json=BACKTEST)).headers["Location"]
        assert (await settled(api, later))["status"] == "succeeded"
    assert failed["status"] == "failed"
    assert failed["error"].startswith("invalid request") and "fee_rate" in failed["error"]
    topology = Topology(settings.amqp_prefix)
    for queue in (topology.queue_for(RunBacktest), topology.dead_letters):
        assert await ready_messages(settings.amqp_url, queue) == 0


async def test_a_poison_message_is_dead_lettered_and_work_goes_on(
    api: Client, pool: asyncpg.Pool, settings: Settings
) -> None:
    await insert_candles(pool, "linear", "BTCUSDT", "60", random_walk(T0, 500, "60"))
    topology = Topology(settings.amqp_prefix)
    async with running_engine(settings):
        connection = await aio_pika.connect(settings.amqp_url)
        async with connection:
            channel = await connection.channel()
            await topology.declare(channel)  # the API may still be declaring it
            exchange = await channel.get_exchange(topology.commands)
            poison = aio_pika.Message(b'{"type": "RunBacktest", "oops": 1}')
            await exchange.publish(poison, "RunBacktest", mandatory=True)
            resp = await api.post("/api/v1/backtests", json=BACKTEST)
            done = await settled(api, resp.headers["Location"])
            dead = await channel.declare_queue(topology.dead_letters, passive=True)
            dead_letter = await next_message(dead)
            assert dead_letter.body == poison.body
    assert done["status"] == "succeeded"


async def test_cancelled_before_it_runs_it_never_runs(
    api: Client, pool: asyncpg.Pool, settings: Settings
) -> None:
    await insert_candles(pool, "linear", "BTCUSDT", "60", random_walk(T0, 500, "60"))
    location = (await api.post("/api/v1/backtests", json=BACKTEST)).headers["Location"]
    assert (await (await api.delete(location)).json())["status"] == "cancelled"
    async with running_engine(settings):
        # A job queued after it has run: the worker has had the cancelled one's message.
        later = (await api.post("/api/v1/backtests", json=BACKTEST)).headers["Location"]
        assert (await settled(api, later))["status"] == "succeeded"
    body = await (await api.get(location)).json()
    assert body["status"] == "cancelled" and body["metrics"] is None
    cancelled_id = location.rsplit("/", 1)[1]
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM trades WHERE backtest_id = $1::uuid", cancelled_id
        )
        == 0
    )
    assert (
        await ready_messages(
            settings.amqp_url, Topology(settings.amqp_prefix).queue_for(RunBacktest)
        )
        == 0
    )


async def test_a_worker_killed_mid_job_leaves_it_to_another_exactly_once(
    api: Client, pool: asyncpg.Pool, settings: Settings
) -> None:
    # A year of minutes: long enough to be caught in the middle.
    await insert_candles(pool, "linear", "BTCUSDT", "1", random_walk(T0, 525_600, "1"))
    big = {**BACKTEST, "interval": "1", "start": T0, "end": T0 + 525_600 * 60_000}
    location = (await api.post("/api/v1/backtests", json=big)).headers["Location"]
    backtest_id = location.rsplit("/", 1)[1]
    async with service_process("services.engine", settings) as first:
        await poll_until(
            lambda: pool.fetchval("SELECT status FROM backtests WHERE id = $1::uuid", backtest_id),
            lambda status: status != "queued",
            within=120,  # the worker's start, slow on a busy machine
            every=0.01,
            what="backtest claimed",
        )
        first.send_signal(signal.SIGKILL)
        await first.wait()
    assert (
        await pool.fetchval("SELECT status FROM backtests WHERE id = $1::uuid", backtest_id)
        == "running"
    )
    async with running_engine(settings):
        done = await settled(api, location, within=120)
    assert done["status"] == "succeeded", done["error"]
    trades = await pool.fetchval(
        "SELECT count(*) FROM trades WHERE backtest_id = $1::uuid", backtest_id
    )
    assert trades == done["metrics"]["num_trades"]
    assert await pool.fetchval("SELECT count(*) FROM equity") == 1
    completed = await pool.fetchval(
        "SELECT count(*) FROM outbox WHERE message_type = 'BacktestCompleted'"
    )
    assert completed == 1


async def test_a_later_start_warms_up_on_the_stored_bars_before_it(
    api: Client, pool: asyncpg.Pool, settings: Settings
) -> None:
    series = random_walk(T0, 2000, "60", seed=11)
    await insert_candles(pool, "linear", "BTCUSDT", "60", series)
    start = 1000
    later = {
        **BACKTEST,
        "start": int(series.open_time[start]),
        "end": int(series.open_time[-1]),
    }
    async with running_engine(settings):
        auto = await api.post("/api/v1/backtests", json=later)
        none = await api.post("/api/v1/backtests", json={**later, "warmup_bars": 0})
        done = await settled(api, auto.headers["Location"])
        cold = await settled(api, none.headers["Location"])
    assert done["status"] == cold["status"] == "succeeded", (done["error"], cold["error"])

    # "auto": 3 x the longest window (slow 20), from the bars stored before the start.
    warmup = 60
    spec = BacktestSpec.model_validate(later)
    expected = run_backtest(
        series.select(np.arange(start - warmup, len(series))), spec.config(), trade_from=warmup
    )
    assert done["metrics"] == pytest.approx(expected.metrics, rel=1e-12)
    trades = await (
        await api.get(f"{auto.headers['Location']}/trades", params={"limit": 1000})
    ).json()
    assert [t["pnl"] for t in trades["items"]] == pytest.approx(
        expected.trades.pnl.tolist(), rel=1e-12
    )
    # Warmed up, it can be in a position from the range's second bar; cold, not before the
    # slow SMA exists.
    first_entry = trades["items"][0]["entry_time"]
    assert first_entry == iso_utc(int(expected.trades.entry_time[0]))
    assert int(expected.trades.entry_time[0]) < int(series.open_time[start + 19])
    assert done["data"] == {
        "first": iso_utc(int(series.open_time[start])),
        "last": iso_utc(int(series.open_time[-1])),
        "bars": 1000,
        "warmup_bars": warmup,
    }
    assert done["warnings"] == []
    assert cold["data"]["warmup_bars"] == 0 and cold["warnings"] == []
    cold_expected = run_backtest(series.select(np.arange(start, len(series))), spec.config())
    assert cold["metrics"] == pytest.approx(cold_expected.metrics, rel=1e-12)


async def test_a_partly_covered_range_succeeds_with_warnings(
    api: Client, pool: asyncpg.Pool, settings: Settings
) -> None:
    series = random_walk(T0 + 100 * 3_600_000, 400, "60")
    keep = np.ones(len(series), bool)
    keep[200:210] = False  # a gap of 10 hours
    await insert_candles(pool, "linear", "BTCUSDT", "60", series.select(keep))
    request = {
        **BACKTEST,
        "start": T0,
        "end": T0 + 1000 * 3_600_000,
        "strategy": {"name": "sma_cross", "params": {"fast": 5, "slow": 500}},
    }
    async with running_engine(settings):
        resp = await api.post("/api/v1/backtests", json=request)
        done = await settled(api, resp.headers["Location"])
    assert done["status"] == "succeeded", done["error"]
    assert done["data"] == {
        "first": iso_utc(int(series.open_time[0])),
        "last": iso_utc(int(series.open_time[-1])),
        "bars": 390,
        "warmup_bars": 0,
    }
    warnings = done["warnings"]
    assert len(warnings) == 5, warnings
    starts, ends, gaps, warmup, trades = warnings
    assert "starts at" in starts and iso_utc(int(series.open_time[0])) in starts
    assert "ends at" in ends and iso_utc(int(series.open_time[-1])) in ends
    assert "10 bars missing" in gaps and "1 gap" in gaps
    assert "0 warm-up bars" in warmup and "1500" in warmup
    assert "no trades" in trades


async def test_a_backtest_whose_candles_go_through_shared_memory_is_bit_identical(
    api: Client, pool: asyncpg.Pool, settings: Settings
) -> None:
    """Candles and market above SHARED_FROM_BYTES reach the pool process as views of a shared
    memory segment: the stored digests and metrics are those of the same run in this
    process."""
    await insert_candles(pool, "linear", "BTCUSDT", "60", random_walk(T0, 20_000, "60"))
    body = {**BACKTEST, "end": iso_utc(T0 + 20_000 * 3_600_000)}
    spec, run = parse_backtest(BacktestSpec.model_validate(body).model_dump(mode="json"))
    function, inputs, equity_bytes = await pool_work(pool, spec, run, CandlesDigests())
    with shipped(function, inputs, equity_bytes) as shipment:
        assert shipment.call[0] is call_shipped  # the shared-memory path, not the pipe
        through = shipment.result(call_shipped(*shipment.call[1:]))
    expected = function(*inputs)
    assert through.digests == expected.digests
    assert np.array_equal(through.times, expected.times)
    assert np.array_equal(through.equity.view(np.int64), expected.equity.view(np.int64))
    async with running_engine(settings):
        resp = await api.post("/api/v1/backtests", json=body)
        done = await settled(api, resp.headers["Location"])
    assert done["status"] == "succeeded", done["error"]
    stored = await pool.fetchval("SELECT digests FROM backtests WHERE id = $1::uuid", done["id"])
    assert stored == expected.digests
    assert done["metrics"] == expected.metrics
    assert done["provenance"]["candles"]["sha256"] == expected.provenance["candles"]["sha256"]
