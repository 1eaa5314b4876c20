"""Backfills from the simulated Bybit into PostgreSQL, through the queue, exact to the bit."""

import asyncio
import signal
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aio_pika
import aiohttp
import asyncpg
import pytest

from domain.market.intervals import DAY_MS, floor_open_time
from services.bybit_sim.server import RunningSim, running_sim
from services.bybit_sim.settings import SimSettings
from shared.amqp import Topology
from shared.messages import RunBackfill
from shared.repos.backfills import BackfillSpec
from shared.settings import Settings
from tests.support.broker import next_message
from tests.support.ingest import (
    assert_same_candles,
    ingest_process,
    queue_backfill,
    stored_candles,
    wait_for_backfill,
    wait_for_backfill_progress,
)
from tests.support.services import running_ingest

pytestmark = pytest.mark.integration

NOW_MS = 1_735_689_600_000  # the simulator's clock starts at 2025-01-01T00:00Z
START_MS = NOW_MS - 31 * DAY_MS
END_MS = START_MS + 30 * DAY_MS - 60_000  # 30 days of 1-minute candles: 43,200


def spec(start_ms: int = START_MS, end_ms: int = END_MS, symbol: str = "BTCUSDT") -> BackfillSpec:
    return BackfillSpec(
        category="linear",
        symbol=symbol,
        interval="1",
        start=datetime.fromtimestamp(start_ms / 1000, UTC),
        end=datetime.fromtimestamp(end_ms / 1000, UTC),
        include=(),  # candles only: test_backfill_perpetuals.py has the rest
    )


def sim_settings(**overrides: Any) -> SimSettings:
    return SimSettings(port=0, clock_start=NOW_MS, history_start="2024-06-01T00:00Z", **overrides)


@pytest.fixture
async def sim() -> AsyncIterator[RunningSim]:
    async with running_sim(sim_settings()) as running:
        yield running


def ingest_settings(settings: Settings, sim: RunningSim, **overrides: object) -> Settings:
    return settings.model_copy(
        update={"bybit_rest_url": sim.rest_url, "bybit_ws_url": sim.ws_url, **overrides}
    )


def slow_ingest_settings(settings: Settings, sim: RunningSim) -> Settings:
    """Slow enough for a test to stop the ingest mid-backfill."""
    return ingest_settings(
        settings,
        sim,
        ingest_requests_per_second=15,
        ingest_pages_per_commit=2,
        ingest_pages_in_flight=2,
    )


def expected(sim: RunningSim, start_ms: int = START_MS, end_ms: int = END_MS):
    return sim.book.closed_candles("linear", "BTCUSDT", "1", start_ms, end_ms, sim.clock.now_ms())


async def test_thirty_days_of_minutes_equal_the_exchange(
    settings: Settings, pool: asyncpg.Pool, sim: RunningSim
) -> None:
    async with running_ingest(ingest_settings(settings, sim, ingest_requests_per_second=100)):
        backfill_id = await queue_backfill(pool, spec())
        view = await wait_for_backfill(pool, backfill_id)
    assert view.status == "succeeded", view.error
    assert view.rows == 43_200 and view.progress == 1.0
    assert view.pages_done == view.pages_total == 44
    assert_same_candles(await stored_candles(pool, "linear", "BTCUSDT", "1"), expected(sim))
    assert await pool.fetchval("SELECT count(*) FROM kline_gaps") == 0
    audit = await pool.fetchval(
        """SELECT count(*) FROM bybit_kline_audit
           WHERE backfill_id = $1 AND source = 'rest' AND feed = 'kline'""",
        backfill_id,
    )
    assert audit == 44


async def test_killed_mid_backfill_resumes_exactly(
    settings: Settings, pool: asyncpg.Pool, sim: RunningSim
) -> None:
    slow = slow_ingest_settings(settings, sim)
    backfill_id = await queue_backfill(pool, spec())
    async with ingest_process(slow) as first:
        view = await wait_for_backfill_progress(pool, backfill_id, pages=10)
        first.kill()
        await first.wait()
    killed_at = (await wait_for_backfill(pool, backfill_id, until=("running",))).pages_done
    assert 10 <= killed_at < 44, "the kill must land mid-backfill"
    async with ingest_process(ingest_settings(settings, sim, ingest_requests_per_second=100)):
        view = await wait_for_backfill(pool, backfill_id)
    assert view.status == "succeeded", view.error
    assert view.rows == 43_200
    assert_same_candles(await stored_candles(pool, "linear", "BTCUSDT", "1"), expected(sim))


async def test_faults_do_not_change_the_result(settings: Settings, pool: asyncpg.Pool) -> None:
    faulty = sim_settings(
        fault_10006_rate=0.1,
        fault_502_rate=0.1,
        fault_disconnect_rate=0.1,
        fault_10006_reset_ms=200,
    )
    async with running_sim(faulty) as sim:
        async with running_ingest(
            ingest_settings(settings, sim, ingest_requests_per_second=100, ingest_max_retries=20)
        ):
            backfill_id = await queue_backfill(pool, spec())
            view = await wait_for_backfill(pool, backfill_id)
        assert view.status == "succeeded", view.error
        assert_same_candles(await stored_candles(pool, "linear", "BTCUSDT", "1"), expected(sim))
        stats = await _sim_stats(sim)
    for fault in ("faults_10006", "faults_502", "disconnects"):
        assert stats[fault] > 0, stats
    assert stats["forbidden"] == 0


async def test_the_candle_in_progress_is_not_stored(
    settings: Settings, pool: asyncpg.Pool, sim: RunningSim
) -> None:
    async with running_ingest(ingest_settings(settings, sim)):
        backfill_id = await queue_backfill(pool, spec(NOW_MS - 3 * DAY_MS, NOW_MS + DAY_MS))
        view = await wait_for_backfill(pool, backfill_id)
    assert view.status == "succeeded", view.error
    stored = await stored_candles(pool, "linear", "BTCUSDT", "1")
    in_progress = floor_open_time(sim.clock.now_ms(), "1")
    assert stored["open_time"].max() < in_progress
    assert_same_candles(stored, expected(sim, NOW_MS - 3 * DAY_MS, int(stored["open_time"].max())))
    # The future is not a gap.
    assert await pool.fetchval("SELECT count(*) FROM kline_gaps") == 0


async def test_gaps_on_the_exchange_are_recorded(settings: Settings, pool: asyncpg.Pool) -> None:
    gappy = sim_settings(gaps=("linear:BTCUSDT:2024-12-05T10:00Z/2024-12-05T12:30Z",))
    async with running_sim(gappy) as sim, running_ingest(ingest_settings(settings, sim)):
        backfill_id = await queue_backfill(pool, spec(START_MS, START_MS + 5 * DAY_MS))
        view = await wait_for_backfill(pool, backfill_id)
        assert view.status == "succeeded", view.error
        assert_same_candles(
            await stored_candles(pool, "linear", "BTCUSDT", "1"),
            expected(sim, START_MS, START_MS + 5 * DAY_MS),
        )
    gaps = await pool.fetch("SELECT gap_start, gap_end FROM kline_gaps")
    assert [(g["gap_start"].isoformat(), g["gap_end"].isoformat()) for g in gaps] == [
        ("2024-12-05T10:00:00+00:00", "2024-12-05T12:29:00+00:00")
    ]


async def test_unknown_symbol_fails_the_job_with_bybits_reason(
    settings: Settings, pool: asyncpg.Pool, sim: RunningSim
) -> None:
    async with running_ingest(ingest_settings(settings, sim)):
        bad = await queue_backfill(pool, spec(symbol="NOPEUSDT"))
        failed = await wait_for_backfill(pool, bad)
        good = await queue_backfill(pool, spec(START_MS, START_MS + DAY_MS))
        succeeded = await wait_for_backfill(pool, good)
    assert failed.status == "failed"
    assert failed.error is not None and "10001" in failed.error and "symbol" in failed.error.lower()
    assert succeeded.status == "succeeded", "the worker goes on with the next job"


async def test_sigterm_commits_what_it_has_and_hands_the_job_back(
    settings: Settings, pool: asyncpg.Pool, sim: RunningSim
) -> None:
    slow = slow_ingest_settings(settings, sim)
    backfill_id = await queue_backfill(pool, spec())
    async with ingest_process(slow) as proc:
        await wait_for_backfill_progress(pool, backfill_id, pages=6)
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), timeout=30) == 0
    paused = await wait_for_backfill(pool, backfill_id, until=("running",))
    assert 6 <= paused.pages_done < 44
    assert await pool.fetchval("SELECT count(*) FROM klines") == paused.rows, (
        "progress matches data"
    )
    async with running_ingest(ingest_settings(settings, sim, ingest_requests_per_second=100)):
        view = await wait_for_backfill(pool, backfill_id)
    assert view.status == "succeeded", view.error
    assert_same_candles(await stored_candles(pool, "linear", "BTCUSDT", "1"), expected(sim))


async def test_a_job_failing_on_every_delivery_is_failed_and_dead_lettered(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    async with running_sim(sim_settings(fault_502_rate=1.0)) as sim:
        hopeless = ingest_settings(settings, sim, ingest_max_retries=0)
        async with running_ingest(hopeless):
            backfill_id = await queue_backfill(pool, spec())
            view = await wait_for_backfill(pool, backfill_id)
    assert view.status == "failed"
    assert view.error is not None and "502" in view.error
    connection = await aio_pika.connect(settings.amqp_url)
    async with connection:
        channel = await connection.channel()
        dead = await channel.declare_queue(
            Topology(settings.amqp_prefix).dead_letters, passive=True
        )
        message = await next_message(dead)
        assert RunBackfill.model_validate_json(message.body).backfill_id == backfill_id


async def _sim_stats(sim: RunningSim) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.get(f"{sim.rest_url}/sim/stats") as resp:
        stats: dict[str, Any] = await resp.json()
    return stats


async def test_pacing_at_95_percent_of_the_limit_never_meets_a_403(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    # Bybit's limit scaled to 50 requests per second, so the test is short.
    limited = sim_settings(rate_limit_requests=50, rate_limit_window_seconds=1.0)
    async with running_sim(limited) as sim:
        paced = ingest_settings(settings, sim, ingest_requests_per_second=47.5)
        async with running_ingest(paced):
            backfill_id = await queue_backfill(pool, spec(START_MS - 60 * DAY_MS, END_MS))
            view = await wait_for_backfill(pool, backfill_id)
        stats = await _sim_stats(sim)
    assert view.status == "succeeded", view.error
    assert view.pages_done == view.pages_total == 130
    assert stats["requests"] >= 130 and stats["forbidden"] == 0, stats


async def test_a_403_ban_pauses_every_request_then_the_backfill_completes(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    strict = sim_settings(rate_limit_requests=10, rate_limit_window_seconds=1.0, ban_seconds=1.0)
    async with running_sim(strict) as sim:
        greedy = ingest_settings(
            settings, sim, ingest_requests_per_second=100, ingest_ban_pause_seconds=1.5
        )
        async with running_ingest(greedy):
            backfill_id = await queue_backfill(pool, spec(START_MS, START_MS + 10 * DAY_MS))
            view = await wait_for_backfill(pool, backfill_id)
        stats = await _sim_stats(sim)
        assert view.status == "succeeded", view.error
        assert_same_candles(
            await stored_candles(pool, "linear", "BTCUSDT", "1"),
            expected(sim, START_MS, START_MS + 10 * DAY_MS),
        )
    assert stats["bans"] >= 1
    # Paused after each ban instead of hammering: few 403s for 15 pages.
    assert stats["forbidden"] <= 3 * stats["bans"] + 8, stats
