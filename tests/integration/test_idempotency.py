"""Idempotency-Key on the job submissions: a retry answers the job first created."""

import asyncio
import uuid
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from shared.repos.idempotency import (
    EarlierSubmission,
    KeyClaim,
    claim_keys,
    delete_expired_keys,
)
from tests.support.market import BACKTEST_REQUEST, insert_hourly

pytestmark = pytest.mark.integration

Client = TestClient[web.Request, web.Application]
BACKTEST: dict[str, Any] = BACKTEST_REQUEST
JOBS: dict[str, dict[str, Any]] = {
    "backtests": BACKTEST,
    "optimizations": {"kind": "grid", "backtest": BACKTEST, "param_grid": {"fast": [5, 10]}},
    "backfills": {
        "category": "linear",
        "symbol": "BTCUSDT",
        "interval": "60",
        "start": "2024-02-01T00:00:00Z",
        "end": "2024-02-02T00:00:00Z",
    },
}
TABLES = {"backtests": "backtests", "optimizations": "optimizations", "backfills": "backfill_run"}


@pytest.fixture
async def hourly(pool: asyncpg.Pool) -> None:
    await insert_hourly(pool)


async def jobs_in(pool: asyncpg.Pool, kind: str) -> int:
    return int(await pool.fetchval(f"SELECT count(*) FROM {TABLES[kind]}"))


@pytest.mark.parametrize("kind", list(JOBS))
async def test_a_retry_with_the_same_key_answers_the_first_job(
    api: Client, pool: asyncpg.Pool, hourly: None, kind: str
) -> None:
    path, body = f"/api/v1/{kind}", JOBS[kind]
    first = await api.post(path, json=body, headers={"Idempotency-Key": "k-1"})
    assert first.status == 202, await first.text()
    job = await first.json()
    retry = await api.post(path, json=body, headers={"Idempotency-Key": "k-1"})
    assert retry.status == 202
    assert (await retry.json())["id"] == job["id"]
    assert retry.headers["Location"] == first.headers["Location"] == f"{path}/{job['id']}"
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert await jobs_in(pool, kind) == 1
    other = await api.post(path, json=body, headers={"Idempotency-Key": "k-2"})
    assert (await other.json())["id"] != job["id"]
    unkeyed = [await api.post(path, json=body) for _ in range(2)]
    assert len({(await r.json())["id"] for r in unkeyed}) == 2
    assert await jobs_in(pool, kind) == 4
    # One command per job went out, none for the retry.
    messages = await pool.fetchval("SELECT count(*) FROM outbox WHERE exchange = 'commands'")
    assert messages == await jobs_in(pool, "backtests") + await jobs_in(
        pool, "optimizations"
    ) + await jobs_in(pool, "backfills")


async def test_concurrent_retries_with_one_key_create_one_job(
    api: Client, pool: asyncpg.Pool, hourly: None
) -> None:
    headers = {"Idempotency-Key": "burst"}
    answers = await asyncio.gather(
        *(api.post("/api/v1/backtests", json=BACKTEST, headers=headers) for _ in range(12))
    )
    assert [a.status for a in answers] == [202] * 12
    assert len({(await a.json())["id"] for a in answers}) == 1
    assert await jobs_in(pool, "backtests") == 1
    assert sum("Idempotent-Replayed" not in a.headers for a in answers) == 1


async def test_a_key_reused_for_another_request_is_refused(
    api: Client, pool: asyncpg.Pool, hourly: None
) -> None:
    headers = {"Idempotency-Key": "same"}
    assert (await api.post("/api/v1/backtests", json=BACKTEST, headers=headers)).status == 202
    changed = {**BACKTEST, "fee_rate": 0.001}
    refused = await api.post("/api/v1/backtests", json=changed, headers=headers)
    assert refused.status == 422, await refused.text()
    assert (await refused.json())["error"]["details"][0]["field"] == "Idempotency-Key"
    # Keys are per job type: the same key on another route is another submission.
    other = await api.post("/api/v1/backfills", json=JOBS["backfills"], headers=headers)
    assert other.status == 202
    bad = await api.post("/api/v1/backtests", json=BACKTEST, headers={"Idempotency-Key": "é"})
    assert bad.status == 422 and await jobs_in(pool, "backtests") == 1


async def test_a_key_counts_for_24_hours(api: Client, pool: asyncpg.Pool, hourly: None) -> None:
    headers = {"Idempotency-Key": "daily"}
    first = await (await api.post("/api/v1/backtests", json=BACKTEST, headers=headers)).json()
    await pool.execute("UPDATE idempotency_keys SET created_at = now() - interval '23 hours'")
    again = await (await api.post("/api/v1/backtests", json=BACKTEST, headers=headers)).json()
    assert again["id"] == first["id"]
    await pool.execute("UPDATE idempotency_keys SET created_at = now() - interval '25 hours'")
    later = await (await api.post("/api/v1/backtests", json=BACKTEST, headers=headers)).json()
    assert later["id"] != first["id"] and await jobs_in(pool, "backtests") == 2
    await pool.execute(
        """INSERT INTO idempotency_keys (scope, key, fingerprint, job_id, created_at)
           VALUES ('backtests', 'old', '', gen_random_uuid(), now() - interval '2 days')"""
    )
    assert await delete_expired_keys(pool) == 1
    assert await pool.fetchval("SELECT count(*) FROM idempotency_keys") == 1


async def test_a_retry_after_the_job_was_deleted_is_a_conflict(
    api: Client, pool: asyncpg.Pool, hourly: None
) -> None:
    headers = {"Idempotency-Key": "gone"}
    job = await (await api.post("/api/v1/backtests", json=BACKTEST, headers=headers)).json()
    await pool.execute("DELETE FROM backtests WHERE id = $1::uuid", job["id"])
    retry = await api.post("/api/v1/backtests", json=BACKTEST, headers=headers)
    assert retry.status == 409, await retry.text()
    assert await jobs_in(pool, "backtests") == 0


async def test_keys_claimed_together_are_answered_as_one_by_one(pool: asyncpg.Pool) -> None:
    """One statement for a group's keys: a new key is claimed, a held one answers its job, an
    expired one is claimed again, and a key twice in the group is the first claim's."""
    held_job, expired_job = uuid.uuid4(), uuid.uuid4()
    await pool.execute(
        """INSERT INTO idempotency_keys (scope, key, fingerprint, job_id, created_at)
           VALUES ('grouped', 'held', 'f-held', $1, now()),
                  ('grouped', 'old', 'f-old', $2, now() - interval '25 hours')""",
        held_job,
        expired_job,
    )
    claims = [
        KeyClaim("grouped", key, fingerprint, uuid.uuid4())
        for key, fingerprint in [("new", "f1"), ("held", "f2"), ("old", "f3"), ("new", "f4")]
    ]
    async with pool.acquire() as conn, conn.transaction():
        outcomes = await claim_keys(conn, claims)
    assert outcomes == [
        None,
        EarlierSubmission(held_job, "f-held"),
        None,
        EarlierSubmission(claims[0].job_id, "f1"),
    ]
    rows = await pool.fetch("SELECT key, job_id, fingerprint FROM idempotency_keys")
    assert {row["key"]: (row["job_id"], row["fingerprint"]) for row in rows} == {
        "new": (claims[0].job_id, "f1"),
        "held": (held_job, "f-held"),
        "old": (claims[2].job_id, "f3"),
    }
