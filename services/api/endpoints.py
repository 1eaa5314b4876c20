"""Routes declared once, with their models: the app registers them, the OpenAPI document
describes them, and handlers parse requests through them."""

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from uuid import UUID

import asyncpg
import orjson
from aiohttp import web
from pydantic import BaseModel, ValidationError

from services.api.errors import NotFound, Unprocessable, validation_failure
from services.api.keys import POOL
from services.api.paging import Page
from services.api.request_body import read_body_bytes
from shared.db import DbExecutor
from shared.jobs import JobTable
from shared.json_numbers import out_of_range_number
from shared.repos import jobs as jobs_repo

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    errors: tuple[int, ...] = ()
    public: bool = False  # reachable without the API token
    content_type: str = "application/json"
    extra: dict[str, Any] = field(default_factory=dict)
    # Other successes answered without a body, e.g. 204 when a DELETE deletes.
    empty_statuses: tuple[int, ...] = ()
    operation_id: str | None = None  # else derived from the method and the path

    @property
    def path_params(self) -> list[str]:
        return re.findall(r"{(\w+)}", self.path)

    @property
    def operation_name(self) -> str:
        """A unique, stable name: `listBacktests`, `getBacktest`, `listBacktestTrades`..."""
        if self.operation_id:
            return self.operation_id
        parts = self.path.removeprefix("/api/v1").strip("/").split("/")
        words = []
        for i, part in enumerate(parts):
            if part.startswith("{"):
                continue
            followed_by_id = i + 1 < len(parts) and parts[i + 1].startswith("{")
            word = re.sub(r"\W", " ", part).title().replace(" ", "")
            words.append(_singular(word) if followed_by_id else word)
        if self.method == "GET":
            is_page = isinstance(self.response, type) and issubclass(self.response, Page)
            verb = "list" if is_page else "get"
        elif self.method == "POST" and not parts[-1].startswith("{"):
            verb, words[-1] = "create", _singular(words[-1])
        else:
            verb = self.method.lower()
        return verb + "".join(words)


def _singular(word: str) -> str:
    if word.endswith("ies"):
        return word[:-3] + "y"
    return word.removesuffix("s")


async def read_body(
    request: web.Request,
    model: type[M],
    prepare: Callable[[Any], Awaitable[Any]] | None = None,
) -> M:
    """The request's body as `model` (see `parse_body`)."""
    return await parse_body(await read_body_bytes(request), model, prepare)


async def parse_body(
    body: bytes,
    model: type[M],
    prepare: Callable[[Any], Awaitable[Any]] | None = None,
    *,
    numbers_checked: bool = False,
) -> M:
    """JSON `body` as `model`, whichever transport brought it; `prepare` may first rewrite the
    parsed JSON (e.g. write out a saved strategy). A body that does not parse goes to the model
    as it is, to be refused. Numbers beyond float64 or int64 are refused first, unless the
    caller did so already (`numbers_checked`)."""
    body = body or b"null"
    out_of_range = None if numbers_checked else out_of_range_number(body)
    if out_of_range is not None:
        raise Unprocessable.for_field(*out_of_range)
    if prepare is not None:
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
        else:
            body = orjson.dumps(await prepare(parsed))
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise validation_failure(exc) from None


def read_query(request: web.Request, model: type[M]) -> M:
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as exc:
        raise validation_failure(exc) from None


def path_id(request: web.Request, what: str) -> UUID:
    raw = request.match_info["id"]
    try:
        return UUID(raw)
    except ValueError:
        raise NotFound(f"no {what} with id {raw!r}") from None


async def existing(
    request: web.Request, what: str, load: Callable[[asyncpg.Pool, UUID], Awaitable[T | None]]
) -> T:
    """The resource named by the path's id, or a 404 naming what was not found."""
    resource_id = path_id(request, what)
    found = await load(request.app[POOL], resource_id)
    if found is None:
        raise NotFound(f"no {what} with id {resource_id}")
    return found


def json_response(
    data: BaseModel | dict[str, Any], *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    payload = data.model_dump(mode="json") if isinstance(data, BaseModel) else data
    return web.Response(
        status=status, body=orjson.dumps(payload), content_type="application/json", headers=headers
    )


def accepted(data: BaseModel, location: str, headers: dict[str, str] | None = None) -> web.Response:
    """A new job: 202 with the resource and where to follow it."""
    return json_response(data, status=202, headers={"Location": location, **(headers or {})})


async def cancel_or_delete(
    request: web.Request,
    table: JobTable,
    what: str,
    load: Callable[[DbExecutor, UUID], Awaitable[BaseModel | None]],
) -> web.Response:
    """DELETE of a job: cancel it if queued or running (200, the cancelled resource), else
    delete it with its results (204)."""
    job_id = path_id(request, what)
    async with request.app[POOL].acquire() as conn:
        outcome = await jobs_repo.cancel_or_delete(conn, table, job_id)
        if outcome is None:
            raise NotFound(f"no {what} with id {job_id}")
        if outcome == "deleted":
            return web.Response(status=204)
        view = await load(conn, job_id)
    assert view is not None
    return json_response(view)
