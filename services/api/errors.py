"""Errors shaped as docs/api.md says, `{"error": {"code", "message", "details"}}`, in one place."""

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web
from pydantic import ValidationError

from shared.dependencies import unreachable_server
from shared.validation import error_message

log = logging.getLogger(__name__)


class ApiError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class MalformedRequest(ApiError):
    status, code = 400, "malformed_request"


class Unauthorized(ApiError):
    status, code = 401, "unauthorized"


class NotFound(ApiError):
    status, code = 404, "not_found"


class Conflict(ApiError):
    status, code = 409, "conflict"


class Unprocessable(ApiError):
    status, code = 422, "invalid_request"

    @classmethod
    def for_field(cls, field: str, message: str) -> "Unprocessable":
        return cls(f"{field}: {message}", [{"field": field, "message": message}])


class Unavailable(ApiError):
    status, code = 503, "unavailable"


def error_response(
    status: int, code: str, message: str, details: list[Any] | None = None
) -> web.Response:
    body = {"error": {"code": code, "message": message, "details": details or []}}
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")


def field_path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "body"


def validation_failure(exc: ValidationError, prefix: tuple[str, ...] = ()) -> ApiError:
    """422 naming each field; a body that is not JSON at all is a 400."""
    errors = exc.errors(include_url=False, include_context=False, include_input=False)
    if any(e["type"] == "json_invalid" for e in errors):
        return MalformedRequest(f"request body is not valid JSON: {error_message(errors[0])}")
    details = [
        {"field": field_path(prefix + tuple(e["loc"])), "message": error_message(e)} for e in errors
    ]
    first = details[0]
    return Unprocessable(f"{first['field']}: {first['message']}", details)


# What a 503 for a server that is away asks the client to wait before retrying.
RETRY_AFTER_SECONDS = 5
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.code, exc.message, exc.details)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, "http_error")
        return error_response(exc.status, code, exc.reason)
    except Exception as exc:
        server = unreachable_server(exc)
        if server is None:
            log.exception("unhandled error", extra={"path": request.path})
            return error_response(500, "internal", "internal server error")
        log.warning(
            f"{server} unavailable",
            extra={"path": request.path, "error": f"{type(exc).__name__}: {exc}"},
        )
        response = error_response(
            503,
            Unavailable.code,
            f"{server} unavailable, retry later",
            [{"field": server, "message": "unavailable"}],
        )
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
