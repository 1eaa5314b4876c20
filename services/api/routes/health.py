"""Liveness, readiness and metrics."""

from typing import Literal

from aiohttp import web
from pydantic import BaseModel

from services.api.endpoints import Endpoint, json_response
from services.api.errors import Unavailable
from services.api.keys import BROKER, POOL, SETTINGS
from services.api.prometheus import METRICS
from shared.dependencies import servers_down

# Each server gets this long to answer, so that readiness answers within 3 s.
_CHECK_SECONDS = 2.0


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ready"] = "ready"
    postgres: Literal["up"] = "up"
    rabbitmq: Literal["up"] = "up"


async def healthz(request: web.Request) -> web.Response:
    return json_response(Health())


async def readyz(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    down = await servers_down(settings.database_url, settings.amqp_url, _CHECK_SECONDS)
    if not request.app[BROKER].is_up and "rabbitmq" not in down:
        down.append("rabbitmq")  # the server answers, but the API's own link to it is not up
    if down:
        raise Unavailable(
            f"not ready: {' and '.join(down)} down", [{"field": d, "message": "down"} for d in down]
        )
    return json_response(Readiness())


async def metrics(request: web.Request) -> web.Response:
    collected = request.app[METRICS]
    await collected.refresh(request.app[POOL])
    return collected.render()


ENDPOINTS = [
    Endpoint("GET", "/api/v1/healthz", healthz, "Liveness", "health", response=Health, public=True),
    Endpoint(
        "GET",
        "/api/v1/readyz",
        readyz,
        "Readiness of PostgreSQL and RabbitMQ",
        "health",
        response=Readiness,
        errors=(503,),
        public=True,
    ),
    Endpoint("GET", "/metrics", metrics, "Prometheus metrics", "health", content_type="text/plain"),
]
