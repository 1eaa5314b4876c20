"""A stalled PostgreSQL (it accepts bytes and answers nothing, through a TCP proxy) never hangs
a client: every API request answers within 5 s, a 503 says whether the job may exist, a retry
with the same Idempotency-Key never creates a job twice, the event stream keeps flowing, and
the workers ride the stall out as an outage."""

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import aio_pika
import aiohttp
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from devtools.job_follower import follow_job
from devtools.launcher import free_port, wait_until_serving
from domain.market.intervals import DAY_MS
from services.api.app import create_app
from services.bybit_sim.server import RunningSim, running_sim
from services.bybit_sim.settings import SimSettings
from shared.amqp import Topology
from shared.messages import BacktestFailed
from shared.repos.backfills import BackfillSpec
from shared.settings import Settings
from tests.support.event_stream import events_of
from tests.support.ingest import queue_backfill, wait_for_backfill
from tests.support.market import insert_candles, random_walk
from tests.support.processes import service_process
from tests.support.services import running_engine, running_ingest, settled
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.integration

Client = TestClient[web.Request, web.Application]
Http = Client | aiohttp.ClientSession
T0 = 1_704_067_200_000
MINUTES = 3_000
# What the contract promises a client while PostgreSQL stalls.
ANSWER_WITHIN_SECONDS = 5.0
STALL_SECONDS = 20.0


def _backtest(fast: int) -> dict[str, Any]:
    return {
        "category": "linear",
        "symbol": "BTCUSDT",
        "interval": "1",
        "start": T0,
        "end": T0 + MINUTES * 60_000,
        "strategy": {"name": "sma_cross", "params": {"fast": fast, "slow": 50}},
        "funding": False,
    }


@pytest.fixture
async def postgres_proxy(settings: Settings) -> AsyncIterator[TcpProxy]:
    proxy = await TcpProxy.to(settings.database_url)
    yield proxy
    await proxy.close()


@pytest.fixture
async def candles(pool: asyncpg.Pool) -> None:
    await insert_candles(pool, "linear", "BTCUSDT", "1", random_walk(T0, MINUTES, "1"))


def _through(settings: Settings, proxy: TcpProxy, **overrides: Any) -> Settings:
    return settings.model_copy(
        update={"database_url": proxy.url(settings.database_url), **overrides}
    )


async def _until(condition: Callable[[], Awaitable[bool]], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not await condition():
        assert time.monotonic() < deadline, f"not within {within} s: {what}"
        await asyncio.sleep(0.2)


class Answer:
    """One request's status, body, headers and how long it took."""

    def __init__(self, status: int, body: Any, headers: dict[str, str], seconds: float) -> None:
        self.status, self.body, self.headers, self.seconds = status, body, headers, seconds

    @property
    def message(self) -> str:
        return str(self.body["error"]["message"]) if self.status >= 400 else ""


async def _timed(api: Http, method: str, path: str, **kwargs: Any) -> Answer:
    started = time.monotonic()
    async with api.request(method, path, **kwargs) as resp:
        body = await resp.json()
        return Answer(resp.status, body, dict(resp.headers), time.monotonic() - started)


async def _post(api: Http, body: dict[str, Any], key: str | None = None) -> Answer:
    headers = {"Idempotency-Key": key} if key is not None else {}
    return await _timed(api, "POST", "/api/v1/backtests", json=body, headers=headers)


def _assert_unavailable(answer: Answer) -> None:
    assert answer.status == 503, (answer.status, answer.body)
    error = answer.body["error"]
    assert error["code"] == "unavailable" and "postgres" in error["message"], error
    assert answer.headers["Retry-After"]


async def _sessions_settled(pool: asyncpg.Pool) -> bool:
    """No other session of this database is inside a statement or a transaction."""
    busy = await pool.fetchval(
        """SELECT count(*) FROM pg_stat_activity
            WHERE datname = current_database() AND pid <> pg_backend_pid()
              AND state IN ('active', 'idle in transaction', 'idle in transaction (aborted)')"""
    )
    return bool(busy == 0)


async def _jobs_by_fast(pool: asyncpg.Pool) -> dict[int, list[uuid.UUID]]:
    rows = await pool.fetch(
        "SELECT id, (request->'strategy'->'params'->>'fast')::int AS fast FROM backtests"
    )
    jobs: dict[int, list[uuid.UUID]] = {}
    for row in rows:
        jobs.setdefault(row["fast"], []).append(row["id"])
    return jobs


async def test_a_submission_stalled_at_its_commit_says_its_job_may_exist_and_its_key_resolves_it(
    pool: asyncpg.Pool, settings: Settings, postgres_proxy: TcpProxy, candles: None
) -> None:
    async with TestClient(TestServer(create_app(_through(settings, postgres_proxy)))) as api:
        postgres_proxy.stall_on(b"COMMIT;")
        try:
            first = await _post(api, _backtest(5), key="commit-stall")
        finally:
            postgres_proxy.resume()
        assert first.seconds < ANSWER_WITHIN_SECONDS, first.seconds
        _assert_unavailable(first)
        assert "may or may not have been created" in first.message, first.message
        assert "same Idempotency-Key is safe" in first.message, first.message

        retry = await _retry_until_accepted(api, _backtest(5), "commit-stall")
    # Whether the held COMMIT reached the server or not, the key made exactly one job.
    assert await _jobs_by_fast(pool) == {5: [uuid.UUID(retry.body["id"])]}


async def test_a_submission_stalled_before_its_commit_says_nothing_was_created_and_it_was_not(
    pool: asyncpg.Pool, settings: Settings, postgres_proxy: TcpProxy, candles: None
) -> None:
    # A fresh API: its connections have not prepared the job's INSERT, so its text is sent.
    async with TestClient(TestServer(create_app(_through(settings, postgres_proxy)))) as api:
        postgres_proxy.stall_on(b"INSERT INTO backtests")
        try:
            first = await _post(api, _backtest(6), key="insert-stall")
        finally:
            postgres_proxy.resume()
        assert first.seconds < ANSWER_WITHIN_SECONDS, first.seconds
        _assert_unavailable(first)
        assert "the backtest was not created" in first.message, first.message
        await _until(lambda: _sessions_settled(pool), 30, "the stalled transaction ended")
        assert await _jobs_by_fast(pool) == {}

        retry = await _retry_until_accepted(api, _backtest(6), "insert-stall")
    # The retry created it: the first request had not.
    assert "Idempotent-Replayed" not in retry.headers
    assert await _jobs_by_fast(pool) == {6: [uuid.UUID(retry.body["id"])]}


async def _retry_until_accepted(
    api: Http, body: dict[str, Any], key: str, answers: list[Answer] | None = None
) -> Answer:
    """POST with `key` until a 202, each answer recorded in `answers`."""
    deadline = time.monotonic() + 90
    while True:
        answer = await _post(api, body, key)
        if answers is not None:
            answers.append(answer)
        if answer.status == 202:
            return answer
        _assert_unavailable(answer)
        assert time.monotonic() < deadline, "no 202 within 90 s"
        await asyncio.sleep(0.5)


async def test_twenty_clients_posting_through_a_20_s_stall_are_answered_within_5_s_each(
    pool: asyncpg.Pool, settings: Settings, postgres_proxy: TcpProxy, candles: None
) -> None:
    """20 clients with keys retry until accepted; 10 without keys post once; one reads. Every
    answer comes within 5 s; the keys make 20 jobs, one each; a keyless 503 that said nothing
    was created created nothing; every job succeeds. The API runs in a process of its own, as
    it is deployed: its event loop is not the clients' one."""
    keyed, keyless = range(2, 22), range(22, 32)
    answers: list[Answer] = []
    port = free_port()
    served = _through(settings, postgres_proxy, api_port=port, log_level="WARNING")
    async with (
        service_process("services.api", served) as proc,
        running_engine(settings),
        aiohttp.ClientSession(
            base_url=f"http://127.0.0.1:{port}", timeout=aiohttp.ClientTimeout(total=15)
        ) as api,
    ):
        await wait_until_serving(f"http://127.0.0.1:{port}/api/v1/readyz", proc, within=60)
        # The engine warm (its pool processes spawned) before the stall.
        warm = await _post(api, _backtest(40))
        assert (await _settled(api, warm.headers["Location"]))["status"] == "succeeded"

        async def keyless_post(fast: int) -> Answer:
            answer = await _post(api, _backtest(fast))
            answers.append(answer)
            return answer

        async def reads_during_the_stall() -> None:
            while not stall_over.is_set():
                answers.append(await _timed(api, "GET", "/api/v1/backtests"))
                await asyncio.sleep(1)

        stall_over = asyncio.Event()
        clients = [
            asyncio.create_task(_retry_until_accepted(api, _backtest(f), f"client-{f}", answers))
            for f in keyed
        ]
        once = [asyncio.create_task(keyless_post(f)) for f in keyless]
        await asyncio.sleep(0.05)  # some under way, at every step of their transactions
        postgres_proxy.stall()
        reader = asyncio.create_task(reads_during_the_stall())
        await asyncio.sleep(STALL_SECONDS)
        postgres_proxy.resume()
        stall_over.set()
        accepted = await asyncio.gather(*clients)
        single = await asyncio.gather(*once)
        await reader
        await _until(lambda: _sessions_settled(pool), 30, "abandoned transactions ended")
        jobs = await _jobs_by_fast(pool)
        locations = {f"/api/v1/backtests/{i}" for ids in jobs.values() for i in ids}
        done = [await _settled(api, location) for location in sorted(locations)]

    slow = [(a.status, round(a.seconds, 2)) for a in answers if a.seconds >= ANSWER_WITHIN_SECONDS]
    assert not slow, slow
    assert {a.status for a in answers} <= {200, 202, 503}, {a.status for a in answers}
    for answer in answers:
        if answer.status == 503:
            _assert_unavailable(answer)
    assert sum(a.status == 503 for a in answers) >= len(keyed), "the stall was not felt"
    # With keys: one job per key, the one its client was answered.
    for fast, answer in zip(keyed, accepted, strict=True):
        assert jobs.get(fast) == [uuid.UUID(answer.body["id"])], (fast, jobs.get(fast))
    # Without keys: every 202 exists; a job beyond those only where the 503 said it may.
    told = {uuid.UUID(a.body["id"]) for a in single if a.status == 202}
    unknown = sum("may or may not have been created" in a.message for a in single)
    made = {i for f in keyless for i in jobs.get(f, [])}
    assert told <= made and len(made - told) <= unknown, (told, made, unknown)
    assert [b["status"] for b in done] == ["succeeded"] * len(done), [b["error"] for b in done]


async def _settled(http: aiohttp.ClientSession, location: str) -> dict[str, Any]:
    """Poll a job until it has ended."""

    async def read() -> dict[str, Any]:
        async with http.get(location) as resp:
            body: dict[str, Any] = await resp.json()
            return body

    return await follow_job(read, within=120, every=0.1, what=location)


async def test_the_event_stream_flows_while_postgres_stalls(
    settings: Settings, postgres_proxy: TcpProxy
) -> None:
    async with TestClient(TestServer(create_app(_through(settings, postgres_proxy)))) as api:
        postgres_proxy.stall()
        try:
            started = time.monotonic()
            stream = await api.get("/api/v1/events")
            assert stream.status == 200
            assert (await stream.content.readline()).startswith(b"retry:")
            assert time.monotonic() - started < ANSWER_WITHIN_SECONDS
            job_id = uuid.uuid4()
            seen = await _published_until_seen(settings, stream, job_id)
            stream.close()
        finally:
            postgres_proxy.resume()
    assert [(e["id"], e["status"], e["source"]) for e in seen] == [
        (str(job_id), "failed", "broker")
    ]


async def _published_until_seen(
    settings: Settings, stream: Any, job_id: uuid.UUID
) -> list[dict[str, Any]]:
    message = BacktestFailed(job_id=job_id, error="stalled")
    connection = await aio_pika.connect_robust(settings.amqp_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(
            Topology(settings.amqp_prefix).events, aio_pika.ExchangeType.TOPIC, durable=True
        )
        deadline = time.monotonic() + 60
        while True:  # the API binds its queue once connected: publish again until seen
            await exchange.publish(
                aio_pika.Message(message.model_dump_json().encode(), type=message.type),
                routing_key=message.routing_key,
            )
            try:
                return await asyncio.wait_for(events_of(stream, str(job_id), until="failed"), 2)
            except TimeoutError:
                assert time.monotonic() < deadline, "the event never arrived"


def _outage_retries(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.getMessage() == "postgres unavailable, the message is held and retried"
    ]


def _failures(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]


async def _dead_letters(settings: Settings) -> int:
    connection = await aio_pika.connect(settings.amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(
            Topology(settings.amqp_prefix).dead_letters, passive=True
        )
        return int(queue.declaration_result.message_count or 0)


# The workers' statement bound, shortened so that a stall outlasts it within the test.
WORKER_STATEMENT_SECONDS = 2.0


async def test_an_engine_job_whose_statements_stall_is_retried_as_an_outage(
    api: Client,
    pool: asyncpg.Pool,
    settings: Settings,
    postgres_proxy: TcpProxy,
    candles: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="shared.consumer")
    worker = _through(
        settings, postgres_proxy, worker_statement_timeout_seconds=WORKER_STATEMENT_SECONDS
    )
    async with running_engine(worker):
        warm = await api.post("/api/v1/backtests", json=_backtest(3))
        assert (await settled(api, warm.headers["Location"], within=120))["status"] == "succeeded"
        postgres_proxy.stall()
        try:
            # The API reaches the database directly: only the engine's statements stall.
            resp = await api.post("/api/v1/backtests", json=_backtest(4))
            assert resp.status == 202
            await _until(
                lambda: _held_for(caplog, 2), 60, "the engine holding the job through the stall"
            )
            status = await pool.fetchval(
                "SELECT status FROM backtests WHERE id = $1", uuid.UUID((await resp.json())["id"])
            )
        finally:
            postgres_proxy.resume()
        done = await settled(api, resp.headers["Location"], within=120)
    assert status in ("queued", "running"), status
    assert done["status"] == "succeeded", done["error"]
    assert not _failures(caplog), _failures(caplog)
    assert await _dead_letters(settings) == 0


async def _held_for(caplog: pytest.LogCaptureFixture, retries: int) -> bool:
    return len(_outage_retries(caplog)) >= retries


SIM_NOW_MS = 1_735_689_600_000  # the simulator's clock starts at 2025-01-01T00:00Z


@pytest.fixture
async def sim() -> AsyncIterator[RunningSim]:
    settings = SimSettings(port=0, clock_start=SIM_NOW_MS, history_start="2024-06-01T00:00Z")
    async with running_sim(settings) as running:
        yield running


async def test_a_backfill_whose_statements_stall_is_retried_as_an_outage_and_completes(
    pool: asyncpg.Pool,
    settings: Settings,
    sim: RunningSim,
    postgres_proxy: TcpProxy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="shared.consumer")
    days = 5
    start = SIM_NOW_MS - (days + 1) * DAY_MS
    spec = BackfillSpec(
        category="linear",
        symbol="ETHUSDT",
        interval="1",
        start=datetime.fromtimestamp(start / 1000, UTC),
        end=datetime.fromtimestamp((start + days * DAY_MS - 60_000) / 1000, UTC),
        include=(),
    )
    worker = _through(
        settings,
        postgres_proxy,
        worker_statement_timeout_seconds=WORKER_STATEMENT_SECONDS,
        bybit_rest_url=sim.rest_url,
        ingest_requests_per_second=5,
        ingest_pages_per_commit=1,
        ingest_pages_in_flight=1,
    )
    async with running_ingest(worker):
        backfill_id = await queue_backfill(pool, spec)

        async def committed_a_page() -> bool:
            return bool(await pool.fetchval("SELECT count(*) FROM klines") > 0)

        await _until(committed_a_page, 60, "the backfill under way")
        postgres_proxy.stall()
        try:
            await _until(lambda: _held_for(caplog, 2), 60, "the ingest holding the backfill")
            during = await pool.fetchval(
                "SELECT status FROM backfill_run WHERE id = $1", backfill_id
            )
        finally:
            postgres_proxy.resume()
        backfill = await wait_for_backfill(pool, backfill_id, within=120)
    assert during == "running", during
    assert backfill.status == "succeeded", backfill.error
    assert backfill.rows == days * 1440, backfill
    stored = await pool.fetchval(
        "SELECT count(DISTINCT open_time) FROM klines WHERE symbol = 'ETHUSDT'"
    )
    assert stored == days * 1440
    assert not _failures(caplog), _failures(caplog)
    assert await _dead_letters(settings) == 0
