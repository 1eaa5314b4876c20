"""Test-only control routes under /sim/ (Bybit has none of these)."""

from typing import TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel, Field, ValidationError

from services.bybit_sim.faults import FaultSettings
from services.bybit_sim.keys import CLOCK, FAULTS, LIMITER, STATS, WS_HUB

T = TypeVar("T", bound=BaseModel)


class WsDrop(BaseModel):
    refuse_seconds: float = Field(default=0.0, ge=0)


def _json(data: object, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


async def _parse(request: web.Request, model: type[T]) -> T:
    """The JSON body (empty means {}) as `model`; a 422 answer if it does not fit."""
    try:
        return model.model_validate_json(await request.read() or b"{}")
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False)
        raise web.HTTPUnprocessableEntity(
            body=orjson.dumps({"error": errors}), content_type="application/json"
        ) from None


async def set_faults(request: web.Request) -> web.Response:
    """Change fault rates, latency or the rate limit switch; answers the resulting settings."""
    change = await _parse(request, FaultSettings)
    faults = request.app[FAULTS]
    faults.update(change)
    return _json(faults.snapshot())


async def drop_ws(request: web.Request) -> web.Response:
    """Cut every WebSocket now; optionally refuse new ones (HTTP 503) for a while."""
    drop = await _parse(request, WsDrop)
    hub = request.app[WS_HUB]
    if drop.refuse_seconds:
        hub.refuse_for(drop.refuse_seconds)
    dropped = await hub.drop_all()
    request.app[STATS].ws_dropped += dropped
    return _json({"dropped": dropped, "refuse_seconds": drop.refuse_seconds})


async def reset_limits(request: web.Request) -> web.Response:
    """Forget every IP's request history and ban."""
    request.app[LIMITER].reset()
    return _json({"reset": True})


async def stats(request: web.Request) -> web.Response:
    return _json({**request.app[STATS].as_dict(), "now_ms": request.app[CLOCK].now_ms()})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/sim/faults", set_faults)
    app.router.add_post("/sim/ws/drop", drop_ws)
    app.router.add_post("/sim/limits/reset", reset_limits)
    app.router.add_get("/sim/stats", stats)
