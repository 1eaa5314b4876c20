"""Built-in strategies with their parameter schemas, and saved (named) strategies."""

from typing import Any, Literal
from uuid import UUID

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.api.endpoints import Endpoint, existing, json_response, path_id, read_body, read_query
from services.api.errors import Conflict, NotFound
from services.api.keys import POOL
from services.api.paging import Page, PageQuery
from shared.repos import strategies as strategies_repo
from shared.repos.strategies import NameTaken, SavedStrategy
from shared.strategies import STRATEGIES, ParamError, resolve_params
from shared.validation import field_error


class StrategyEntry(BaseModel):
    """A built-in strategy (`kind: builtin`, with its parameter schema) or a saved one."""

    kind: Literal["builtin", "saved"]
    name: str
    description: str | None = None
    params: list[dict[str, Any]] | dict[str, Any]
    rules: list[dict[str, Any]] | None = None
    id: UUID | None = None
    strategy: str | None = None


class SaveStrategy(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: str = Field(pattern=r"^[^\x00-\x1f]{1,100}$")
    strategy: str
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _resolve(self) -> "SaveStrategy":
        try:
            resolved = resolve_params(self.strategy, self.params, prefix="params")
        except ParamError as exc:
            field = "strategy" if exc.field == "strategy.name" else exc.field
            raise field_error("SaveStrategy", field, exc.message) from None
        object.__setattr__(self, "params", resolved)
        return self


def _saved_entry(saved: SavedStrategy) -> dict[str, Any]:
    return {"kind": "saved", **saved.model_dump(mode="json")}


async def list_all(request: web.Request) -> web.Response:
    query = read_query(request, PageQuery)
    builtins = STRATEGIES.as_json()
    # Built-ins first, then saved strategies, paged in SQL past the built-ins.
    items = builtins[query.offset : query.offset + query.limit]
    saved, saved_total = await strategies_repo.list_strategies(
        request.app[POOL],
        limit=max(query.limit - len(items), 0),
        offset=max(query.offset - len(builtins), 0),
    )
    items += [_saved_entry(s) for s in saved]
    return json_response({"items": items, "total": len(builtins) + saved_total})


async def create(request: web.Request) -> web.Response:
    body = await read_body(request, SaveStrategy)
    try:
        saved = await strategies_repo.save_strategy(
            request.app[POOL], body.name, body.strategy, body.params
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
        "Built-in and saved strategies",
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
