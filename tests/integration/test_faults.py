"""PostgreSQL and RabbitMQ taken away from the services (cut or stalled by a TCP proxy): jobs
resume by themselves, services wait for their servers, the API says 503 naming the server."""

import asyncio
import contextlib
import logging
import signal
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

from devtools.launcher import free_port
from domain.market.intervals import DAY_MS
from services.api.app import create_app
from services.bybit_sim.server import RunningSim, running_sim
from services.bybit_sim.settings import SimSettings
from services.engine.service import run_engine
from shared.amqp import Publisher, Topology, connect
from shared.consumer import OWN_FAILURE_BACKOFF
from shared.jobs import TERMINAL_STATUSES
from shared.messages import (
    COMMANDS,
    Message,
    RunBacktest,
    RunOptimizationChunk,
    StartOptimization,
)
from shared.repos.backfills import BackfillSpec
from shared.settings import Settings
from tests.support.ingest import queue_backfill, wait_for_backfill
from tests.support.market import insert_candles, random_walk
from tests.support.processes import service_process
from tests.support.services import running_engine, running_ingest, settled
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.integration

Client = TestClient[web.Request, web.Application]
T0 = 1_704_067_200_000
SIM_NOW_MS = 1_735_689_600_000  # the simulator's clock starts at 2025-01-01T00:00Z
# Once both servers are back, every job moves again within this (the contract's promise).
AFTER_RETURN_SECONDS = 60


def _backtest(minutes: int, fast: int = 5) -> dict[str, Any]:
    return {
        "category": "linear",
        "symbol": "BTCUSDT",
        "interval": "1",
        "start": T0,
        "end": T0 + minutes * 60_000,
        "strategy": {"name": "sma_cross", "params": {"fast": fast, "slow": 50}},
    }


def _grid(minutes: int) -> dict[str, Any]:
    return {
        "kind": "grid",
        "backtest": _backtest(minutes),
        "param_grid": {"fast": list(range(2, 42, 2)), "slow": list(range(50, 250, 10))},
        "objective": "total_return",
    }


def _backfill_spec(days: int) -> BackfillSpec:
    start = SIM_NOW_MS - (days + 1) * DAY_MS
    return BackfillSpec(
        category="linear",
        symbol="ETHUSDT",
        interval="1",
        start=datetime.fromtimestamp(start / 1000, UTC),
        end=datetime.fromtimestamp((start + days * DAY_MS - 60_000) / 1000, UTC),
    )


async def _until(
    condition: Callable[[], Awaitable[bool]], within: float, what: str, every: float = 0.1
) -> None:
    deadline = time.monotonic() + within
    while not await condition():
        assert time.monotonic() < deadline, f"not within {within} s: {what}"
        await asyncio.sleep(every)


async def _statuses(pool: asyncpg.Pool) -> dict[str, list[str]]:
    return {
        table: [r["status"] for r in await pool.fetch(f"SELECT status FROM {table}")]
        for table in ("backtests", "optimizations", "backfill_run")
    }


@pytest.fixture
async def sim() -> AsyncIterator[RunningSim]:
    settings = SimSettings(port=0, clock_start=SIM_NOW_MS, history_start="2024-06-01T00:00Z")
    async with running_sim(settings) as running:
        yield running


@pytest.fixture
async def postgres_proxy(settings: Settings) -> AsyncIterator[TcpProxy]:
    proxy = await TcpProxy.to(settings.database_url)
    yield proxy
    await proxy.close()


@pytest.fixture
async def rabbitmq_proxy(settings: Settings) -> AsyncIterator[TcpProxy]:
    proxy = await TcpProxy.to(settings.amqp_url)
    yield proxy
    await proxy.close()


def _through(
    settings: Settings,
    postgres: TcpProxy | None = None,
    rabbitmq: TcpProxy | None = None,
    **overrides: Any,
) -> Settings:
    update = dict(overrides)
    if postgres is not None:
        update["database_url"] = postgres.url(settings.database_url)
    if rabbitmq is not None:
        update["amqp_url"] = rabbitmq.url(settings.amqp_url)
    return settings.model_copy(update=update)


async def _dead_letters(settings: Settings) -> int:
    connection = await aio_pika.connect(settings.amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(
            Topology(settings.amqp_prefix).dead_letters, passive=True
        )
        return int(queue.declaration_result.message_count or 0)


async def test_jobs_in_flight_during_a_database_and_broker_cut_finish_after_them(
    api: Client,
    pool: asyncpg.Pool,
    settings: Settings,
    sim: RunningSim,
    postgres_proxy: TcpProxy,
    rabbitmq_proxy: TcpProxy,
) -> None:
    minutes = 100_000
    await insert_candles(pool, "linear", "BTCUSDT", "1", random_walk(T0, minutes, "1"))
    workers = _through(
        settings,
        postgres_proxy,
        rabbitmq_proxy,
        bybit_rest_url=sim.rest_url,
        bybit_ws_url=sim.ws_url,
        ingest_requests_per_second=5,
        ingest_pages_per_commit=2,
        ingest_pages_in_flight=1,
    )
    async with running_engine(workers), running_ingest(workers):
        await _until(lambda: _consumed(settings, COMMANDS), 60, "workers consuming", every=0.2)
        backfill_id = await queue_backfill(pool, _backfill_spec(days=30))
        grid = (await api.post("/api/v1/optimizations", json=_grid(minutes))).headers["Location"]
        backtests = [await _submit_backtest(api, minutes, fast) for fast in (2, 3, 4)]

        async def grid_and_backfill_under_way() -> bool:
            row = await pool.fetchrow(
                """SELECT (SELECT status FROM optimizations WHERE progress_done > 0) AS grid,
                          (SELECT status FROM backfill_run) AS backfill"""
            )
            return row is not None and row["grid"] == row["backfill"] == "running"

        await _until(grid_and_backfill_under_way, 60, "the grid and the backfill under way")
        await postgres_proxy.cut()
        cut_at = time.monotonic()
        backtests += [await _submit_backtest(api, minutes, fast) for fast in (5, 6, 7)]
        await asyncio.sleep(3)
        await rabbitmq_proxy.cut()  # and the broker too, while the workers hold their jobs
        await asyncio.sleep(9)
        during = await _statuses(pool)
        await postgres_proxy.start()
        await rabbitmq_proxy.start()
        assert time.monotonic() - cut_at < 20

        backfill = await wait_for_backfill(pool, backfill_id, within=AFTER_RETURN_SECONDS)
        done = [await settled(api, location, within=AFTER_RETURN_SECONDS) for location in backtests]
        optimization = await settled(api, grid, within=AFTER_RETURN_SECONDS)

    assert "failed" not in [s for found in during.values() for s in found], during
    assert backfill.status == "succeeded", backfill.error
    assert backfill.rows == 30 * 1440 and backfill.pages_done == backfill.pages_total
    assert [b["status"] for b in done] == ["succeeded"] * 6, [b["error"] for b in done]
    assert optimization["status"] == "succeeded", optimization["error"]
    assert optimization["progress"]["done"] == optimization["progress"]["total"] == 400
    after = await _statuses(pool)
    assert all(status in TERMINAL_STATUSES for found in after.values() for status in found), after
    assert await _dead_letters(settings) == 0


async def _submit_backtest(api: Client, minutes: int, fast: int) -> str:
    resp = await api.post("/api/v1/backtests", json=_backtest(minutes, fast))
    assert resp.status == 202, await resp.text()
    return resp.headers["Location"]


async def test_services_started_before_their_servers_wait_for_them(
    pool: asyncpg.Pool,
    settings: Settings,
    sim: RunningSim,
    postgres_proxy: TcpProxy,
    rabbitmq_proxy: TcpProxy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="shared.dependencies")
    await insert_candles(pool, "linear", "BTCUSDT", "1", random_walk(T0, 5_000, "1"))
    await postgres_proxy.cut()
    await rabbitmq_proxy.cut()
    through = _through(settings, postgres_proxy, rabbitmq_proxy, bybit_rest_url=sim.rest_url)
    api = TestClient(TestServer(create_app(_through(settings, postgres_proxy))))
    api_start = asyncio.create_task(api.start_server())
    async with running_engine(through), running_ingest(through):
        await asyncio.sleep(3)
        assert not api_start.done(), "the API must wait for PostgreSQL, not fail"
        await postgres_proxy.start()
        await asyncio.wait_for(api_start, 30)
        await asyncio.sleep(2)  # the workers now wait for RabbitMQ
        await rabbitmq_proxy.start()
        try:
            resp = await api.post("/api/v1/backtests", json=_backtest(5_000))
            assert resp.status == 202
            backfill_id = await queue_backfill(pool, _backfill_spec(days=1))
            backtest = await settled(api, resp.headers["Location"], within=60)
            backfill = await wait_for_backfill(pool, backfill_id, within=60)
        finally:
            await api.close()
    assert backtest["status"] == "succeeded", backtest["error"]
    assert backfill.status == "succeeded", backfill.error
    waited = {r.getMessage() for r in caplog.records if r.name == "shared.dependencies"}
    assert {"waiting for postgres", "waiting for rabbitmq"} <= waited, waited


async def _timed_get(http: aiohttp.ClientSession, url: str) -> tuple[float, int, Any]:
    started = time.monotonic()
    async with http.get(url) as resp:
        body = await resp.json()
    return time.monotonic() - started, resp.status, body


async def test_readiness_and_worker_health_name_a_stalled_server_within_3_s(
    settings: Settings, postgres_proxy: TcpProxy, rabbitmq_proxy: TcpProxy
) -> None:
    engine_port, ingest_port = free_port(), free_port()
    through = _through(
        settings,
        postgres_proxy,
        rabbitmq_proxy,
        engine_health_port=engine_port,
        ingest_health_port=ingest_port,
    )
    urls = {
        "api": "",  # filled once the API listens
        "engine": f"http://127.0.0.1:{engine_port}/healthz",
        "ingest": f"http://127.0.0.1:{ingest_port}/healthz",
    }
    timeout = aiohttp.ClientTimeout(total=10)
    async with (
        TestClient(TestServer(create_app(through))) as api,
        running_engine(through),
        running_ingest(through),
        aiohttp.ClientSession(timeout=timeout) as http,
    ):
        urls["api"] = str(api.make_url("/api/v1/readyz"))

        async def all_ready() -> bool:
            with contextlib.suppress(aiohttp.ClientError):
                answers = [await _timed_get(http, url) for url in urls.values()]
                return all(status == 200 for _, status, _ in answers)
            return False

        await _until(all_ready, 60, "API, engine and ingest healthy")
        for proxy, server in ((postgres_proxy, "postgres"), (rabbitmq_proxy, "rabbitmq")):
            proxy.stall()
            try:
                answers = await asyncio.gather(*(_timed_get(http, url) for url in urls.values()))
                for name, (seconds, status, body) in zip(urls, answers, strict=True):
                    assert seconds < 3, (name, server, seconds)
                    assert status == 503, (name, server, body)
                    if name == "api":
                        assert server in body["error"]["message"], body
                    else:
                        assert body[server] == "down" and body["status"] == "unavailable", body
            finally:
                proxy.resume()
            await _until(all_ready, 30, f"healthy again after the {server} stall")


async def test_the_api_answers_503_naming_postgres_while_it_is_cut(
    settings: Settings, postgres_proxy: TcpProxy
) -> None:
    async with TestClient(TestServer(create_app(_through(settings, postgres_proxy)))) as api:
        assert (await api.get("/api/v1/backtests")).status == 200
        await postgres_proxy.cut()
        for method, path, body in (
            ("GET", "/api/v1/backtests", None),
            ("GET", f"/api/v1/optimizations/{uuid.uuid4()}", None),
            ("POST", "/api/v1/backtests", _backtest(1_000)),
        ):
            resp = await api.request(method, path, json=body)
            assert resp.status == 503, (method, path, await resp.text())
            error = (await resp.json())["error"]
            assert error["code"] == "unavailable" and "postgres" in error["message"], error
            assert resp.headers["Retry-After"]
        await postgres_proxy.start()

        async def answers() -> bool:
            return (await api.get("/api/v1/backtests")).status == 200

        await _until(answers, 30, "the API answers again")


async def test_a_poison_chunk_is_retried_with_pauses_then_its_job_fails(
    pool: asyncpg.Pool, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    candles = random_walk(T0, 1_000, "1")
    await insert_candles(pool, "linear", "BTCUSDT", "1", candles)
    optimization_id = uuid.uuid4()
    request = {**_grid(1_000), "backtest": {**_backtest(1_000), "strategy": {"name": "sma_cross"}}}
    await pool.execute(
        """INSERT INTO optimizations (id, status, kind, request, progress_total, bars, data_end)
           VALUES ($1, 'running', 'grid', $2, 1, 1000, $3)""",
        optimization_id,
        request,
        datetime.fromtimestamp(int(candles.open_time[-1]) / 1000, UTC),
    )
    # A training chunk without its window: it fails by itself on every delivery.
    await pool.execute(
        """INSERT INTO optimization_chunks (optimization_id, chunk, stage, set_from, set_to)
           VALUES ($1, 0, 'train', 0, 1)""",
        optimization_id,
    )
    topology = Topology(settings.amqp_prefix)
    async with running_engine(settings), await connect(settings.amqp_url) as connection:
        channel = await connection.channel()
        await topology.declare(channel)  # the engine may still be declaring it
        publisher = await Publisher.open(channel, topology)
        sent_at = time.monotonic()
        await publisher.send_command(RunOptimizationChunk(optimization_id=optimization_id, chunk=0))

        async def failed() -> bool:
            status = await pool.fetchval(
                "SELECT status FROM optimizations WHERE id = $1", optimization_id
            )
            return bool(status == "failed")

        await _until(failed, 60, "the optimization failed", every=0.02)
        took = time.monotonic() - sent_at
    pauses = sum(OWN_FAILURE_BACKOFF.delay(n) for n in range(4))
    assert took >= pauses, f"5 deliveries in {took:.3f} s: no pauses between them"
    error = await pool.fetchval("SELECT error FROM optimizations WHERE id = $1", optimization_id)
    assert "AssertionError" in error
    logged = [r for r in caplog.records if r.getMessage() == "job failed"]
    assert [(r.levelno, r.job_id, r.reason) for r in logged] == [  # type: ignore[attr-defined]
        (logging.WARNING, str(optimization_id), error)
    ]
    assert await _dead_letters(settings) == 1


async def test_an_engine_stopped_during_an_outage_hands_its_jobs_back(
    api: Client,
    pool: asyncpg.Pool,
    settings: Settings,
    postgres_proxy: TcpProxy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="shared.consumer")
    await insert_candles(pool, "linear", "BTCUSDT", "1", random_walk(T0, 5_000, "1"))
    stopping = asyncio.Event()
    engine = asyncio.create_task(run_engine(_through(settings, postgres_proxy), stopping))
    try:
        # Started (it migrated through the proxy), then the database goes away.
        engine_commands = (RunBacktest, StartOptimization, RunOptimizationChunk)
        await _until(
            lambda: _consumed(settings, engine_commands), 60, "engine consuming", every=0.2
        )
        await postgres_proxy.cut()
        locations = [
            (await api.post("/api/v1/backtests", json=_backtest(5_000, fast))).headers["Location"]
            for fast in (3, 4, 5)
        ]
        await asyncio.sleep(4)  # delivered to the engine, which cannot reach the database
        stopping.set()
        await asyncio.wait_for(engine, 20)
    finally:
        stopping.set()
        if not engine.done():
            engine.cancel()
    # Those in hand (the prefetch) were handed back as fresh copies: none spent its deliveries
    # on the outage or was given up.
    settled_by = [r.getMessage() for r in caplog.records if r.name == "shared.consumer"]
    assert settled_by.count("message handed back to the queue") >= 1, settled_by
    assert "message failed for the last time" not in settled_by, settled_by
    await postgres_proxy.start()
    async with running_engine(settings):
        done = [await settled(api, location, within=AFTER_RETURN_SECONDS) for location in locations]
    assert [b["status"] for b in done] == ["succeeded"] * 3, [b["error"] for b in done]
    assert await _dead_letters(settings) == 0


async def _consumed(settings: Settings, commands: tuple[type[Message], ...]) -> bool:
    """Whether each command's queue has a consumer."""
    topology = Topology(settings.amqp_prefix)
    connection = await aio_pika.connect(settings.amqp_url)
    async with connection:
        channel = await connection.channel()
        for command in commands:
            try:
                queue = await channel.declare_queue(topology.queue_for(command), passive=True)
            except aio_pika.exceptions.ChannelClosed:
                return False  # not declared yet
            if not queue.declaration_result.consumer_count:
                return False
    return True


async def test_a_service_waiting_for_its_servers_stops_at_once_on_sigterm(
    settings: Settings, postgres_proxy: TcpProxy
) -> None:
    await postgres_proxy.cut()
    through = _through(settings, postgres_proxy, api_port=free_port())
    async with contextlib.AsyncExitStack() as stack:
        processes = {
            module: await stack.enter_async_context(service_process(module, through))
            for module in ("services.api", "services.engine", "services.ingest")
        }
        await asyncio.sleep(4)
        for module, proc in processes.items():
            assert proc.returncode is None, f"{module} exited while waiting for PostgreSQL"
            proc.send_signal(signal.SIGTERM)
        for module, proc in processes.items():
            assert await asyncio.wait_for(proc.wait(), 20) == 0, module
