"""Work that must not grow with the data: saved strategies paged in SQL, metrics counts cached,
the outbox pruned by the relay."""

import asyncio
import time
import uuid
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from services.api.app import create_app
from services.api.prometheus import ApiMetrics
from shared.messages import BacktestCompleted
from shared.outbox import add_to_outbox
from shared.repos.strategies import list_strategies
from shared.settings import Settings

pytestmark = pytest.mark.integration

Client = TestClient[web.Request, web.Application]


async def test_saved_strategies_are_paged_in_sql_after_the_builtins(
    api: Client, pool: asyncpg.Pool
) -> None:
    await pool.execute(
        """INSERT INTO strategies (id, name, strategy, params, created_at)
           SELECT gen_random_uuid(), 'saved-' || lpad(i::text, 4, '0'), 'sma_cross',
                  '{"fast": 5, "slow": 20}', now() + i * interval '1 second'
           FROM generate_series(0, 1499) AS i"""
    )
    page, total = await list_strategies(pool, limit=3, offset=10)
    assert [s.name for s in page] == ["saved-0010", "saved-0011", "saved-0012"] and total == 1500
    everything = await (await api.get("/api/v1/strategies", params={"limit": 1000})).json()
    builtins = sum(item["kind"] == "builtin" for item in everything["items"])
    assert builtins >= 6 and everything["items"][builtins]["name"] == "saved-0000"
    first = await (await api.get("/api/v1/strategies", params={"limit": builtins + 2})).json()
    assert first["total"] == builtins + 1500
    assert [i["kind"] for i in first["items"]] == ["builtin"] * builtins + ["preset"] * 2
    assert [i["name"] for i in first["items"][builtins:]] == ["saved-0000", "saved-0001"]
    middle = await (
        await api.get("/api/v1/strategies", params={"limit": 2, "offset": builtins + 700})
    ).json()
    assert [i["name"] for i in middle["items"]] == ["saved-0700", "saved-0701"]
    straddling = await (
        await api.get("/api/v1/strategies", params={"limit": 3, "offset": builtins - 1})
    ).json()
    assert [i["kind"] for i in straddling["items"]] == ["builtin", "preset", "preset"]
    past = await (await api.get("/api/v1/strategies", params={"offset": builtins + 1500})).json()
    assert past == {"items": [], "total": builtins + 1500}


async def test_metrics_counts_are_cached_for_a_few_seconds(pool: asyncpg.Pool) -> None:
    now = [1000.0]
    metrics = ApiMetrics(cache_seconds=5.0, clock=lambda: now[0])

    def queued() -> Any:
        return metrics.registry.get_sample_value("jobs", {"kind": "backtest", "status": "queued"})

    async def add_backtest() -> None:
        await pool.execute(
            """INSERT INTO backtests (id, request, symbol, strategy)
               VALUES (gen_random_uuid(), '{}', 'BTCUSDT', 'sma_cross')"""
        )

    await add_backtest()
    await asyncio.gather(*(metrics.refresh(pool) for _ in range(8)))
    assert queued() == 1
    await add_backtest()
    now[0] += 4.9
    await metrics.refresh(pool)
    assert queued() == 1, "a scrape within the cache time runs no query"
    now[0] += 0.2
    await metrics.refresh(pool)
    assert queued() == 2


async def test_the_relay_deletes_outbox_rows_published_over_a_week_ago(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    ages = {"old": timedelta(days=8), "recent": timedelta(days=6)}
    ids = {}
    for name, age in ages.items():
        ids[name] = await pool.fetchval(
            """INSERT INTO outbox (message_id, exchange, message_type, body, created_at,
                                   published_at)
               VALUES ($1, 'events', 'BacktestCompleted', '{}', now() - $2::interval,
                       now() - $2::interval)
               RETURNING id""",
            uuid.uuid4(),
            age,
        )
    async with pool.acquire() as conn:
        await add_to_outbox(conn, BacktestCompleted(backtest_id=uuid.uuid4()))
    await pool.execute(
        "UPDATE outbox SET created_at = now() - interval '9 days' WHERE published_at IS NULL"
    )
    client = TestClient(TestServer(create_app(settings)))
    await client.start_server()
    try:
        deadline = time.monotonic() + 60
        while await pool.fetchval("SELECT count(*) FROM outbox WHERE id = $1", ids["old"]):
            assert time.monotonic() < deadline, "the old published row is still there"
            await asyncio.sleep(0.1)
        while await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"):
            assert time.monotonic() < deadline, "the pending row was not published"
            await asyncio.sleep(0.1)
    finally:
        await client.close()
    left = await pool.fetch("SELECT id, published_at IS NOT NULL AS published FROM outbox")
    # The week-old row stays, and so does the one created long ago but published just now.
    assert len(left) == 2 and ids["recent"] in {r["id"] for r in left}
    assert all(r["published"] for r in left)
