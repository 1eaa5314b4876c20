"""Backfills of perpetuals: mark-price candles and funding history as exact as the candles,
resumable after SIGKILL, audited; the instrument's limits and risk tiers stored."""

import asyncio
import signal
from datetime import UTC, datetime
from typing import Any

import aiohttp
import asyncpg
import numpy as np
import pytest

from domain.market.intervals import DAY_MS
from services.bybit_sim.funding import funding_rates, funding_times
from services.bybit_sim.server import RunningSim, running_sim
from services.bybit_sim.settings import SimSettings
from shared.market_data import InstrumentLimits, instrument_limits, load_fundings
from shared.repos.backfills import BackfillSpec, BackfillView
from shared.settings import Settings
from tests.support.ingest import (
    assert_same_candles,
    ingest_process,
    queue_backfill,
    stored_candles,
    stored_fundings,
    wait_for_backfill,
    wait_for_backfill_progress,
)
from tests.support.services import running_ingest

pytestmark = pytest.mark.integration

NOW_MS = 1_735_689_600_000  # 2025-01-01T00:00Z
SYMBOLS = ("linear:BTCUSDT", "linear:APTUSDT", "inverse:BTCUSD", "spot:BTCUSDT")


def spec(category: str, symbol: str, interval: str, start_ms: int, end_ms: int) -> BackfillSpec:
    return BackfillSpec(
        category=category,
        symbol=symbol,
        interval=interval,
        start=datetime.fromtimestamp(start_ms / 1000, UTC),
        end=datetime.fromtimestamp(end_ms / 1000, UTC),
    )


def sim_settings(**overrides: Any) -> SimSettings:
    return SimSettings(
        port=0,
        clock_start=NOW_MS,
        history_start="2023-06-01T00:00Z",
        symbols=SYMBOLS,
        **overrides,
    )


def ingest_settings(settings: Settings, sim: RunningSim, **overrides: object) -> Settings:
    return settings.model_copy(
        update={"bybit_rest_url": sim.rest_url, "bybit_ws_url": sim.ws_url, **overrides}
    )


def expected_fundings(sim: RunningSim, category: str, symbol: str, start: int, end: int) -> Any:
    inst = sim.book.instrument(category, symbol)
    assert inst is not None
    times = funding_times(inst, inst.launch_ms, start, min(end, sim.clock.now_ms()))
    return times, funding_rates(sim.settings.seed, inst, times)


async def assert_exact(
    pool: asyncpg.Pool, sim: RunningSim, job: BackfillSpec, *, funding_pages: int
) -> None:
    now = sim.clock.now_ms()
    key = (job.category, job.symbol, job.interval)
    candles = sim.book.closed_candles(*key, job.start_ms, job.end_ms, now)
    marks = sim.mark_book.closed_candles(*key, job.start_ms, job.end_ms, now)
    assert_same_candles(await stored_candles(pool, *key), candles)
    assert_same_candles(await stored_candles(pool, *key, table="mark_price_klines"), marks)
    assert not np.array_equal(candles["close"], marks["close"])
    times, rates = expected_fundings(sim, job.category, job.symbol, job.start_ms, job.end_ms)
    stored = await stored_fundings(pool, job.category, job.symbol)
    assert np.array_equal(stored["time"], times) and np.array_equal(stored["rate"], rates)
    assert (rates < 0).any(), "some fundings are received by longs"
    assert await pool.fetchval("SELECT count(*) FROM mark_price_kline_gaps") == 0
    assert funding_pages == len(times) // 200 + 1


async def audit_by_feed(pool: asyncpg.Pool, view: BackfillView) -> dict[str, int]:
    rows = await pool.fetch(
        """SELECT feed, count(*) AS pages, count(interval) AS with_interval
           FROM bybit_kline_audit WHERE backfill_id = $1 GROUP BY feed""",
        view.id,
    )
    for row in rows:
        with_interval = row["feed"] in ("kline", "mark_price")
        assert row["with_interval"] == (row["pages"] if with_interval else 0), dict(row)
    return {row["feed"]: row["pages"] for row in rows}


async def test_a_linear_backfill_stores_mark_prices_funding_and_limits(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    # APTUSDT funds every hour: 30 days hold 720 fundings, 4 pages walked backwards.
    job = spec("linear", "APTUSDT", "15", NOW_MS - 31 * DAY_MS, NOW_MS - DAY_MS - 1)
    async with running_sim(sim_settings()) as sim:
        async with running_ingest(ingest_settings(settings, sim, ingest_requests_per_second=100)):
            view = await wait_for_backfill(pool, await queue_backfill(pool, job))
        assert view.status == "succeeded", view.error
        assert view.include == ["mark_price", "funding"]
        assert view.rows == 30 * 96 and view.progress == 1.0
        assert view.pages_done == view.pages_total == 3 * 2 + 4
        await assert_exact(pool, sim, job, funding_pages=4)
    assert await audit_by_feed(pool, view) == {
        "kline": 3,
        "mark_price": 3,
        "funding": 4,
        "instrument": 1,
        "risk_limit": 1,
    }
    instrument = await pool.fetchrow("SELECT * FROM instruments WHERE symbol = 'APTUSDT'")
    assert instrument is not None
    assert (instrument["funding_interval"], instrument["max_leverage"]) == (60, 20.0)
    tiers = await pool.fetch(
        "SELECT * FROM risk_limit_tiers WHERE symbol = 'APTUSDT' ORDER BY risk_limit_value"
    )
    assert len(tiers) == 10 and tiers[0]["is_lowest_risk"] and not tiers[1]["is_lowest_risk"]
    assert (tiers[0]["maintenance_margin"], tiers[0]["max_leverage"]) == (0.025, 20.0)
    assert (tiers[1]["initial_margin"], tiers[1]["mm_deduction"]) == (0.075, 5000.0)
    # What the engine reads back.
    limits = await instrument_limits(pool, "linear", "APTUSDT")
    assert limits == InstrumentLimits(60, 20.0, 0.025)
    assert await instrument_limits(pool, "linear", "BTCUSDT") is None
    loaded = await load_fundings(pool, "linear", "APTUSDT", job.start, job.end)
    stored = await stored_fundings(pool, "linear", "APTUSDT")
    assert np.array_equal(loaded.time, stored["time"]) and np.array_equal(
        loaded.rate, stored["rate"]
    )


async def test_faults_and_a_shared_limit_at_95_percent_change_nothing(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    # Bybit's limit scaled to 50 requests per second, with every kind of fault on every route.
    faulty = sim_settings(
        rate_limit_requests=50,
        rate_limit_window_seconds=1.0,
        fault_10006_rate=0.1,
        fault_502_rate=0.1,
        fault_disconnect_rate=0.1,
        fault_10006_reset_ms=200,
    )
    job = spec("inverse", "BTCUSD", "5", NOW_MS - 60 * DAY_MS, NOW_MS - DAY_MS - 1)
    async with running_sim(faulty) as sim:
        paced = ingest_settings(
            settings, sim, ingest_requests_per_second=47.5, ingest_max_retries=20
        )
        async with running_ingest(paced):
            view = await wait_for_backfill(pool, await queue_backfill(pool, job), within=180)
        assert view.status == "succeeded", view.error
        await assert_exact(pool, sim, job, funding_pages=1)
        stats_url = f"{sim.rest_url}/sim/stats"
        async with aiohttp.ClientSession() as http, http.get(stats_url) as resp:
            stats = await resp.json()
    assert view.pages_done == view.pages_total == 17 * 2 + 1
    for fault in ("faults_10006", "faults_502", "disconnects"):
        assert stats[fault] > 0, stats
    assert stats["forbidden"] == 0, stats


async def test_spot_and_include_none_fetch_candles_only(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    start, end = NOW_MS - 3 * DAY_MS, NOW_MS - DAY_MS
    spot = spec("spot", "BTCUSDT", "60", start, end)
    bare = BackfillSpec.model_validate(
        {**spec("inverse", "BTCUSD", "60", start, end).model_dump(), "include": []}
    )
    async with running_sim(sim_settings()) as sim:
        fast = ingest_settings(settings, sim, ingest_requests_per_second=100)
        async with running_ingest(fast):
            views = [
                await wait_for_backfill(pool, await queue_backfill(pool, j)) for j in (spot, bare)
            ]
    assert [v.status for v in views] == ["succeeded", "succeeded"]
    assert [v.include for v in views] == [[], []]
    assert await pool.fetchval("SELECT count(*) FROM mark_price_klines") == 0
    assert await pool.fetchval("SELECT count(*) FROM funding_rates") == 0
    # The inverse contract's limits are stored all the same; spot has none.
    assert [r["symbol"] for r in await pool.fetch("SELECT symbol FROM instruments")] == ["BTCUSD"]
    assert await audit_by_feed(pool, views[0]) == {"kline": 1}


async def test_killed_in_the_candles_then_in_the_funding_resumes_exactly(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    # An hourly-funded year of hourly candles: 9 windows x 2 feeds, then 44 funding pages.
    job = spec("linear", "APTUSDT", "60", NOW_MS - 366 * DAY_MS, NOW_MS - DAY_MS - 1)
    async with running_sim(sim_settings()) as sim:
        slow = ingest_settings(
            settings,
            sim,
            ingest_requests_per_second=15,
            ingest_pages_per_commit=2,
            ingest_pages_in_flight=2,
        )
        backfill_id = await queue_backfill(pool, job)
        for kill_at in (6, 30):  # mid candles, then mid funding
            async with ingest_process(slow) as process:
                await wait_for_backfill_progress(pool, backfill_id, kill_at)
                process.kill()
                await process.wait()
            killed = await wait_for_backfill(pool, backfill_id, until=("running",))
            assert kill_at <= killed.pages_done < 18 + 44, "the kill must land mid-backfill"
        async with running_ingest(ingest_settings(settings, sim, ingest_requests_per_second=100)):
            view = await wait_for_backfill(pool, backfill_id)
        assert view.status == "succeeded", view.error
        assert view.rows == 365 * 24
        assert view.pages_done == view.pages_total == 18 + 44
        await assert_exact(pool, sim, job, funding_pages=44)
    # A page is audited with the data it brought, so pages lost to a kill leave no trace;
    # the limits are read again by each of the three runs.
    assert await audit_by_feed(pool, view) == {
        "kline": 9,
        "mark_price": 9,
        "funding": 44,
        "instrument": 3,
        "risk_limit": 3,
    }


async def test_sigterm_in_the_funding_hands_the_job_back_and_it_completes(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    job = spec("linear", "APTUSDT", "D", NOW_MS - 366 * DAY_MS, NOW_MS - DAY_MS - 1)
    async with running_sim(sim_settings()) as sim:
        slow = ingest_settings(settings, sim, ingest_requests_per_second=15)
        backfill_id = await queue_backfill(pool, job)
        async with ingest_process(slow) as process:
            await wait_for_backfill_progress(pool, backfill_id, 10)  # 2 candle pages, then fundings
            process.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(process.wait(), timeout=30) == 0
        paused = await wait_for_backfill(pool, backfill_id, until=("running",))
        assert 10 <= paused.pages_done < 2 + 44
        async with running_ingest(ingest_settings(settings, sim, ingest_requests_per_second=100)):
            view = await wait_for_backfill(pool, backfill_id)
        assert view.status == "succeeded", view.error
        await assert_exact(pool, sim, job, funding_pages=44)
