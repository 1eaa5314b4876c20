"""Request ids in logs and answers, and the bearer token check."""

import hmac
import logging
import time
import uuid

from aiohttp import web

from services.api.endpoints import Handler
from services.api.errors import Unauthorized, error_response
from services.api.keys import SETTINGS

log = logging.getLogger("services.api.access")

REQUEST_ID = web.RequestKey("request_id", str)
# Routes under the prefix that answer without a token (the docs page's assets too).
_PUBLIC = ("/api/v1/healthz", "/api/v1/readyz", "/api/v1/openapi.json", "/api/v1/docs")
_PUBLIC_PREFIX = "/api/v1/docs/"


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = request.headers.get("X-Request-Id") or uuid.uuid4().hex
    request[REQUEST_ID] = request_id
    started = time.perf_counter()
    response = await handler(request)
    response.headers["X-Request-Id"] = request_id
    log.info(
        "request",
        extra={
            "request_id": request_id,
            "method": request.method,
            "path": request.path,
            "status": response.status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
        },
    )
    return response


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    token = request.app[SETTINGS].api_token
    public = request.path in _PUBLIC or request.path.startswith(_PUBLIC_PREFIX)
    if token and request.path.startswith("/api/v1") and not public:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            error = Unauthorized("missing or wrong bearer token in the Authorization header")
            return error_response(error.status, error.code, error.message)
    return await handler(request)
