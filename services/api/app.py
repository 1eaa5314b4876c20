"""The API application: one factory, every resource opened and closed in a cleanup context."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from domain.strategies import install_strategies
from services.api.asyncapi import asyncapi_document
from services.api.broker_link import BrokerLink
from services.api.endpoints import Endpoint
from services.api.errors import error_middleware
from services.api.keys import BROKER, POOL, READS, SETTINGS
from services.api.middleware import auth_middleware, request_id_middleware, stamp_response
from services.api.openapi import openapi_document
from services.api.prometheus import METRICS, ApiMetrics, metrics_middleware
from services.api.request_body import MAX_BODY_BYTES
from services.api.request_budget import answer_started, budget_middleware
from services.api.routes import (
    backfills,
    backtests,
    docs,
    events,
    health,
    indicators,
    market,
    optimizations,
    reports,
    strategies,
)
from services.api.submission_consumer import SUBMISSIONS, SubmissionConsumer
from services.api.ui import pages
from shared.amqp import Topology
from shared.db import SharedReads, create_pool
from shared.dependencies import wait_for
from shared.migrate import migrate
from shared.repos.idempotency import delete_expired_keys
from shared.settings import Settings

log = logging.getLogger(__name__)

VERSION = "0.1.0"

ENDPOINTS: list[Endpoint] = [
    *health.ENDPOINTS,
    *docs.ENDPOINTS,
    *market.ENDPOINTS,
    *backfills.ENDPOINTS,
    *strategies.ENDPOINTS,
    *backtests.ENDPOINTS,
    *optimizations.ENDPOINTS,
    *reports.ENDPOINTS,
    *indicators.ENDPOINTS,
    *events.ENDPOINTS,
]


async def _database(app: web.Application) -> AsyncIterator[None]:
    if POOL not in app:  # a test may have put its own pool in first
        settings = app[SETTINGS]
        url = settings.database_url
        await wait_for("postgres", lambda: migrate(url))
        # Sized for a request's budget (see request_budget): a stalled server's statements and
        # connection attempts end soon after the request was answered 503, freeing the pool.
        bound = max(settings.api_read_budget_seconds, settings.api_write_budget_seconds)
        app[POOL] = await wait_for(
            "postgres",
            lambda: create_pool(url, max_size=20, statement_timeout=bound, connect_timeout=bound),
        )
    app[READS] = SharedReads(app[POOL])
    yield
    await app[POOL].close()


async def _broker(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    link = BrokerLink(settings.amqp_url, Topology(settings.amqp_prefix))
    app[BROKER] = link
    relay = asyncio.create_task(link.run_relay(app[POOL]))
    yield
    relay.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await relay
    await link.close()


async def _submissions(app: web.Application) -> AsyncIterator[None]:
    """Consume producers' job submissions once the broker link has connected."""
    settings = app[SETTINGS]
    consumer = SubmissionConsumer(
        app[POOL], Topology(settings.amqp_prefix), app[METRICS], reads=app[READS]
    )
    app[SUBMISSIONS] = consumer
    link = app[BROKER]

    async def start_when_connected() -> None:
        while True:
            connection = link.connection
            if connection is not None:
                try:
                    await consumer.start(connection)
                    return
                except Exception as exc:  # broker lost meanwhile: try again
                    log.warning("submissions: not consuming yet", extra={"error": repr(exc)})
            await asyncio.sleep(0.2)

    starting = asyncio.create_task(start_when_connected())
    yield
    starting.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await starting
    await consumer.stop()


async def _expire_idempotency_keys(app: web.Application) -> AsyncIterator[None]:
    async def expire_hourly() -> None:
        while True:
            try:
                await delete_expired_keys(app[POOL])
            except Exception as exc:  # database away: next hour
                log.warning("expiring idempotency keys failed", extra={"error": repr(exc)})
            await asyncio.sleep(3600)

    task = asyncio.create_task(expire_hourly())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def create_app(settings: Settings) -> web.Application:
    app = web.Application(
        middlewares=[
            request_id_middleware,
            metrics_middleware,
            error_middleware,
            auth_middleware,
            budget_middleware,
        ],
        client_max_size=MAX_BODY_BYTES,
        # Bodies are inflated by `request_body`, within its limit, and only when read: aiohttp
        # would inflate an unread body whole to keep the connection alive (a 500 KB gzip bomb
        # costs a CPU-second), even one sent without the token.
        handler_args={"auto_decompress": False},
    )
    app.on_response_prepare.extend([stamp_response, answer_started])
    app[SETTINGS] = settings
    app[METRICS] = ApiMetrics()
    # Requests are checked against the built-ins and the plugins of STRATEGY_PATH.
    install_strategies(settings.strategy_path)
    app[docs.OPENAPI_DOCUMENT] = openapi_document(ENDPOINTS, title="backtester", version=VERSION)
    topology = Topology(settings.amqp_prefix)
    app[docs.ASYNCAPI_DOCUMENT] = asyncapi_document(topology, settings.amqp_url, version=VERSION)
    for endpoint in ENDPOINTS:
        app.router.add_route(endpoint.method, endpoint.path, endpoint.handler)
    docs.add_static(app)
    pages.add_routes(app)
    app.on_shutdown.append(events.end_streams)
    app.cleanup_ctx.extend(
        [_database, _broker, _submissions, events.job_event_hub, _expire_idempotency_keys]
    )
    return app
