"""A worker's health endpoint: whether it reaches PostgreSQL and RabbitMQ and is consuming.

`GET /healthz` answers 200 when every server answers and every consumer takes deliveries with
none held by an outage, else 503; the body says which part is not.
"""

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from aio_pika.abc import AbstractRobustConnection
from aiohttp import web

from shared.consumer import Consumer
from shared.dependencies import servers_down
from shared.settings import Settings

# Within the 3 s a health check may take, each server gets this long to answer.
PROBE_SECONDS = 2.0


class WorkerHealth:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.connection: AbstractRobustConnection | None = None
        self.consumers: list[Consumer[Any]] = []

    async def report(self) -> tuple[bool, dict[str, Any]]:
        down = await servers_down(
            self._settings.database_url, self._settings.amqp_url, PROBE_SECONDS
        )
        connection = self.connection
        connected = (
            connection is not None and not connection.is_closed and connection.connected.is_set()
        )
        consumers = [c.status() for c in self.consumers]
        ok = (
            not down
            and connected
            and bool(self.consumers)
            and all(c["consuming"] and not c["waiting_for"] for c in consumers)
        )
        body = {
            "status": "ok" if ok else "unavailable",
            "postgres": "down" if "postgres" in down else "up",
            "rabbitmq": "down" if "rabbitmq" in down or not connected else "up",
            "consumers": consumers,
        }
        return ok, body


@contextlib.asynccontextmanager
async def health_endpoint(port: int, health: WorkerHealth) -> AsyncIterator[None]:
    """Serve `GET /healthz` on `port` (0: no endpoint) until the block exits."""
    if not port:
        yield
        return

    async def healthz(request: web.Request) -> web.Response:
        ok, body = await health.report()
        return web.json_response(body, status=200 if ok else 503)

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "0.0.0.0", port).start()
        yield
    finally:
        await runner.cleanup()
