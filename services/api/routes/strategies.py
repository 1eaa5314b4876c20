"""Built-in strategies with their parameter schemas, and saved (named) strategies."""

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.strategies import ParamError, installed_strategies
from domain.strategies.definitions import Definition, parse_definition
from domain.strategies.expressions import ExpressionError
from services.api.endpoints import Endpoint, existing, json_response, path_id, read_body, read_query
from services.api.errors import Conflict, NotFound
from services.api.job_requests import SAVED_NAME
from services.api.keys import POOL
from services.api.paging import Page, PageQuery
from shared.repos import strategies as strategies_repo
from shared.repos.strategies import NameTaken, SavedStrategy
from shared.validation import field_error


class StrategyEntry(BaseModel):
    """A strategy a request may name: a built-in or plugin (with its parameter schema, and
    for a plugin that failed to load `available: false` and the `error`), or a saved one (a
    `preset` of a strategy and its params, or an `expression` definition)."""

    kind: Literal["builtin", "plugin", "preset", "expression"]
    name: str
    description: str | None = None
    params: list[dict[str, Any]] | dict[str, Any]
    rules: list[dict[str, Any]] | None = None
    definition: dict[str, Any] | None = None
    available: bool = True
    error: str | None = None
    id: UUID | None = None
    strategy: str | None = None
    created_at: datetime | None = None


class SaveStrategy(BaseModel):
    """A preset (`strategy` and `params`) or an expression strategy (`definition`)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: str = Field(pattern=SAVED_NAME.pattern)
    description: str | None = Field(default=None, max_length=500)
    strategy: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    definition: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _resolve(self) -> "SaveStrategy":
        if (self.strategy is None) == (self.definition is None):
            raise ValueError("give a `strategy` with its `params`, or an expression `definition`")
        if self.definition is not None:
            if self.params:
                raise ValueError("an expression strategy declares its params in `definition`")
            definition = self.definition
            if self.description and not definition.get("description"):
                definition = {**definition, "description": self.description}
            try:
                parsed = parse_definition(definition)
            except ExpressionError as exc:
                raise field_error("SaveStrategy", f"definition.{exc.field}", exc.message) from None
            object.__setattr__(self, "definition", parsed.as_json())
            return self
        try:
            entry = installed_strategies().entry(self.strategy, field="strategy")
            resolved = entry.resolve_params(self.params, prefix="params")
        except ParamError as exc:
            raise field_error("SaveStrategy", exc.field, exc.message) from None
        object.__setattr__(self, "params", resolved)
        return self


def _saved_entry(saved: SavedStrategy) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "kind": saved.kind,
        "id": str(saved.id),
        "name": saved.name,
        "created_at": saved.created_at.isoformat(),
        "available": True,
    }
    if saved.definition is not None:
        listed = definition_of_saved(saved).entry(saved.name).as_json()
        return {**listed, **entry, "definition": saved.definition}
    return {**entry, "strategy": saved.strategy, "params": saved.params}


def definition_of_saved(saved: SavedStrategy) -> Definition:
    assert saved.definition is not None
    return parse_definition(saved.definition)


async def list_all(request: web.Request) -> web.Response:
    """The process's strategies first (built-ins, then plugins), then the saved ones, oldest
    first; only the page asked for is read from the database."""
    query = read_query(request, PageQuery)
    registered = installed_strategies().as_json()
    page = registered[query.offset : query.offset + query.limit]
    saved_offset = max(0, query.offset - len(registered))
    saved, saved_total = await strategies_repo.list_strategies(
        request.app[POOL], limit=max(0, query.limit - len(page)), offset=saved_offset
    )
    items = page + [_saved_entry(s) for s in saved]
    return json_response({"items": items, "total": len(registered) + saved_total})


async def create(request: web.Request) -> web.Response:
    body = await read_body(request, SaveStrategy)
    taken = next((e for e in installed_strategies() if e.name == body.name), None)
    if taken is not None:
        raise Conflict(f"{body.name!r} is the name of a {taken.kind} strategy")
    try:
        saved = await strategies_repo.save_strategy(
            request.app[POOL],
            body.name,
            strategy=body.strategy,
            params=body.params if body.strategy is not None else None,
            definition=body.definition,
        )
    except NameTaken:
        raise Conflict(f"a saved strategy is already named {body.name!r}") from None
    return json_response(
        _saved_entry(saved), status=201, headers={"Location": f"/api/v1/strategies/{saved.id}"}
    )


async def get_one(request: web.Request) -> web.Response:
    saved = await existing(request, "saved strategy", strategies_repo.get_strategy)
    return json_response(_saved_entry(saved))


async def delete(request: web.Request) -> web.Response:
    strategy_id = path_id(request, "saved strategy")
    if not await strategies_repo.delete_strategy(request.app[POOL], strategy_id):
        raise NotFound(f"no saved strategy with id {strategy_id}")
    return web.Response(status=204)


ENDPOINTS = [
    Endpoint(
        "GET",
        "/api/v1/strategies",
        list_all,
        "Every strategy a request may name: built-ins, plugins, saved ones",
        "strategies",
        query=PageQuery,
        response=Page[StrategyEntry],
        errors=(422,),
    ),
    Endpoint(
        "POST",
        "/api/v1/strategies",
        create,
        "Save a named strategy",
        "strategies",
        body=SaveStrategy,
        response=StrategyEntry,
        status=201,
        errors=(400, 409, 413, 415, 422),
    ),
    Endpoint(
        "GET",
        "/api/v1/strategies/{id}",
        get_one,
        "A saved strategy",
        "strategies",
        response=StrategyEntry,
        errors=(404,),
    ),
    Endpoint(
        "DELETE",
        "/api/v1/strategies/{id}",
        delete,
        "Delete a saved strategy",
        "strategies",
        status=204,
        errors=(404,),
    ),
]
