"""Request ids in logs and answers, the bearer token check, and what every answer says of us."""

import hmac
import logging
import re
import time
import uuid

from aiohttp import web

from services.api.endpoints import Handler
from services.api.errors import Unauthorized, error_response
from services.api.keys import SETTINGS

log = logging.getLogger("services.api.access")

REQUEST_ID = web.RequestKey("request_id", str)
# A client's id is echoed and logged only if it is short and plain; else we make our own.
_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:+=/-]{1,128}$")
# Routes that answer without a token (the docs page's assets too); everything else under the
# prefix, and /metrics, needs it.
_PUBLIC = ("/api/v1/healthz", "/api/v1/readyz", "/api/v1/openapi.json", "/api/v1/docs")
_PUBLIC_PREFIX = "/api/v1/docs/"
_PROTECTED_PREFIXES = ("/api/v1", "/metrics")
SERVER_NAME = "backtester"


def _request_id(request: web.Request) -> str:
    given = request.headers.get("X-Request-Id", "")
    return given if _CLIENT_REQUEST_ID.match(given) else uuid.uuid4().hex


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = _request_id(request)
    request[REQUEST_ID] = request_id
    started = time.perf_counter()
    response = await handler(request)
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


def _needs_token(path: str) -> bool:
    public = path in _PUBLIC or path.startswith(_PUBLIC_PREFIX)
    return path.startswith(_PROTECTED_PREFIXES) and not public


def _bearer_token(authorization: str) -> str | None:
    """The token of an `Authorization: Bearer <token>` header; the scheme is case-insensitive."""
    scheme, _, token = authorization.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse a request without the token before anything reads its body."""
    token = request.app[SETTINGS].api_token
    if token and _needs_token(request.path):
        given = _bearer_token(request.headers.get("Authorization", "")) or ""
        # Header bytes that are not UTF-8 arrive as surrogates; they compare unequal, not fail.
        if not hmac.compare_digest(given.encode("utf-8", "surrogateescape"), token.encode()):
            error = Unauthorized("missing or wrong bearer token in the Authorization header")
            return error_response(error.status, error.code, error.message)
    return await handler(request)


async def stamp_response(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare, so streamed answers get it too: the request id, and a Server header
    in place of aiohttp's, which names Python's and its own versions."""
    response.headers["Server"] = SERVER_NAME
    if REQUEST_ID in request:
        response.headers["X-Request-Id"] = request[REQUEST_ID]
