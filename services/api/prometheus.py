"""Prometheus metrics: request counts and latencies, jobs by status, the outbox backlog."""

import asyncio
import time
from collections.abc import Callable

import asyncpg
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest

from services.api.endpoints import Handler
from shared.jobs import JOB_TABLES

# Scrapes within this long of the last one reuse its counts: the aggregate queries behind them
# are the one part of a scrape that costs the database anything.
CACHE_SECONDS = 5.0


class ApiMetrics:
    def __init__(
        self, cache_seconds: float = CACHE_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._refreshed_at: float | None = None
        self._refreshing = asyncio.Lock()
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "api_requests", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "api_request_seconds",
            "HTTP request latency",
            ["method", "route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )
        self.jobs = Gauge(
            "jobs", "Jobs by kind and status", ["kind", "status"], registry=self.registry
        )
        self.outbox_backlog = Gauge(
            "outbox_backlog", "Messages waiting to be published", registry=self.registry
        )

    async def refresh(self, pool: asyncpg.Pool) -> None:
        """Count jobs and the backlog, unless a scrape did so within the last few seconds."""
        async with self._refreshing:  # concurrent scrapes wait for one count, not run their own
            last = self._refreshed_at
            if last is not None and self._clock() - last < self._cache_seconds:
                return
            await self._count(pool)
            self._refreshed_at = self._clock()

    async def _count(self, pool: asyncpg.Pool) -> None:
        counts = [
            (kind, row["status"], row["n"])
            for kind, table in JOB_TABLES.items()
            for row in await pool.fetch(
                f"SELECT status, count(*) AS n FROM {table} GROUP BY status"
            )
        ]
        backlog = await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        self.jobs.clear()
        for kind, status, n in counts:
            self.jobs.labels(kind, status).set(n)
        self.outbox_backlog.set(backlog)

    def render(self) -> web.Response:
        response = web.Response(body=generate_latest(self.registry))
        response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
        return response


METRICS = web.AppKey("metrics", ApiMetrics)


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    response = await handler(request)
    route = request.match_info.route.resource
    name = route.canonical if route is not None else "unmatched"
    metrics = request.app[METRICS]
    metrics.requests.labels(request.method, name, str(response.status)).inc()
    metrics.latency.labels(request.method, name).observe(time.perf_counter() - started)
    return response
