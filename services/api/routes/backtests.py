"""Backtest jobs: submit, list, read results, cancel or delete."""

from typing import Literal
from uuid import UUID

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from services.api.endpoints import (
    Endpoint,
    accepted,
    existing,
    json_response,
    path_id,
    read_body,
    read_query,
)
from services.api.equity_stream import stream_equity
from services.api.errors import NotFound
from services.api.idempotency import job_gone, submit_once
from services.api.job_requests import ensure_candles, resolve_backtest
from services.api.keys import POOL
from services.api.paging import Page, PageQuery
from shared.backtest_spec import BacktestSpec
from shared.db import DbConnection
from shared.repos import backtests as backtests_repo
from shared.repos.backtests import BacktestView, Trade


class BacktestFilter(PageQuery):
    model_config = ConfigDict(extra="forbid")

    status: Literal["queued", "running", "succeeded", "failed", "cancelled"] | None = None
    symbol: str | None = Field(default=None, pattern=r"^[A-Z0-9]{2,30}$")
    strategy: str | None = Field(default=None, pattern=r"^[a-z_]{1,50}$")


class EquityQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    points: int | None = Field(default=None, ge=2, le=1_000_000)


class EquityPoint(BaseModel):
    time: str
    equity: float


async def create(request: web.Request) -> web.Response:
    spec = await read_body(request, BacktestSpec)
    pool = request.app[POOL]
    resolved = await resolve_backtest(pool, spec)
    await ensure_candles(pool, resolved)

    async def insert(conn: DbConnection) -> UUID:
        return (await backtests_repo.create_backtest(conn, resolved.model_dump(mode="json"))).id

    submission = await submit_once(request, "backtests", spec, insert)
    view = await backtests_repo.get_backtest(pool, submission.job_id)
    if view is None:
        raise job_gone("backtest", submission)
    return accepted(view, f"/api/v1/backtests/{view.id}", submission.headers)


async def list_all(request: web.Request) -> web.Response:
    query = read_query(request, BacktestFilter)
    items, total = await backtests_repo.list_backtests(
        request.app[POOL],
        status=query.status,
        symbol=query.symbol,
        strategy=query.strategy,
        limit=query.limit,
        offset=query.offset,
    )
    return json_response(Page[BacktestView](items=items, total=total))


async def _existing(request: web.Request) -> BacktestView:
    return await existing(request, "backtest", backtests_repo.get_backtest)


async def get_one(request: web.Request) -> web.Response:
    return json_response(await _existing(request))


async def trades(request: web.Request) -> web.Response:
    query = read_query(request, PageQuery)
    view = await _existing(request)
    items, total = await backtests_repo.trades_page(
        request.app[POOL], view.id, limit=query.limit, offset=query.offset
    )
    return json_response(Page[Trade](items=items, total=total))


async def equity(request: web.Request) -> web.StreamResponse:
    query = read_query(request, EquityQuery)
    view = await _existing(request)
    return await stream_equity(request, request.app[POOL], view.id, query.points)


async def delete(request: web.Request) -> web.Response:
    backtest_id = path_id(request, "backtest")
    async with request.app[POOL].acquire() as conn:
        outcome = await backtests_repo.cancel_or_delete(conn, backtest_id)
        if outcome is None:
            raise NotFound(f"no backtest with id {backtest_id}")
        if outcome == "deleted":
            return web.Response(status=204)
        view = await backtests_repo.get_backtest(conn, backtest_id)
    assert view is not None
    return json_response(view)


ENDPOINTS = [
    Endpoint(
        "POST",
        "/api/v1/backtests",
        create,
        "Submit a backtest",
        "backtests",
        body=BacktestSpec,
        response=BacktestView,
        status=202,
        errors=(400, 409, 413, 415, 422),
    ),
    Endpoint(
        "GET",
        "/api/v1/backtests",
        list_all,
        "Backtests, newest first",
        "backtests",
        query=BacktestFilter,
        response=Page[BacktestView],
        errors=(422,),
    ),
    Endpoint(
        "GET",
        "/api/v1/backtests/{id}",
        get_one,
        "Status, request, metrics, timings",
        "backtests",
        response=BacktestView,
        errors=(404,),
    ),
    Endpoint(
        "GET",
        "/api/v1/backtests/{id}/trades",
        trades,
        "The trade list",
        "backtests",
        query=PageQuery,
        response=Page[Trade],
        errors=(404, 422),
    ),
    Endpoint(
        "GET",
        "/api/v1/backtests/{id}/equity",
        equity,
        "The equity curve",
        "backtests",
        query=EquityQuery,
        response=Page[EquityPoint],
        errors=(404, 422),
    ),
    Endpoint(
        "DELETE",
        "/api/v1/backtests/{id}",
        delete,
        "Cancel if queued or running, else delete",
        "backtests",
        response=BacktestView,
        errors=(404,),
    ),
]
