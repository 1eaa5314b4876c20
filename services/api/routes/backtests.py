"""Backtest jobs: submit, list, read results, cancel or delete."""

import numpy as np
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from services.api.endpoints import (
    Endpoint,
    accepted,
    cancel_or_delete,
    existing,
    json_response,
    read_body,
    read_query,
)
from services.api.job_requests import ensure_candles, with_saved_strategy
from services.api.keys import POOL
from services.api.paging import JobFilter, Page, PageQuery
from shared.backtest_spec import BacktestSpec
from shared.metric_names import MetricKey
from shared.repos import backtests as backtests_repo
from shared.repos.backtests import BacktestView, Trade
from shared.timestamps import iso_utc


class BacktestFilter(JobFilter):
    order_by: MetricKey | None = Field(
        default=None,
        description="a metric key: best first (max_drawdown lowest first), null last; "
        "without it, newest first",
    )


class EquityQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    points: int | None = Field(default=None, ge=2, le=1_000_000)


class EquityPoint(BaseModel):
    time: str
    equity: float


async def create(request: web.Request) -> web.Response:
    pool = request.app[POOL]
    spec = await read_body(
        request, BacktestSpec, lambda body: with_saved_strategy(pool, body, ("strategy",))
    )
    await ensure_candles(pool, spec)
    view = await backtests_repo.create_backtest(pool, spec.model_dump(mode="json"))
    return accepted(view, f"/api/v1/backtests/{view.id}")


async def list_all(request: web.Request) -> web.Response:
    query = read_query(request, BacktestFilter)
    # The filter's fields are the listing's keyword arguments.
    items, total = await backtests_repo.list_backtests(request.app[POOL], **query.model_dump())
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


async def equity(request: web.Request) -> web.Response:
    query = read_query(request, EquityQuery)
    view = await _existing(request)
    curve = await backtests_repo.equity_curve(request.app[POOL], view.id)
    if curve is None:
        return json_response({"items": [], "total": 0})
    times, values = curve
    if query.points is not None and len(times) > query.points:
        # Evenly spaced, always keeping the first and the last point.
        keep = np.unique(np.linspace(0, len(times) - 1, query.points).round().astype(np.int64))
        times, values = times[keep], values[keep]
    items = [
        {"time": iso_utc(int(t)), "equity": float(v)} for t, v in zip(times, values, strict=True)
    ]
    return json_response({"items": items, "total": len(curve[0])})


async def delete(request: web.Request) -> web.Response:
    return await cancel_or_delete(request, "backtests", "backtest", backtests_repo.get_backtest)


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
        errors=(400, 422),
    ),
    Endpoint(
        "GET",
        "/api/v1/backtests",
        list_all,
        "Backtests, newest first or best first by order_by",
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
        "Cancel if queued or running (200, the cancelled backtest), else delete it (204)",
        "backtests",
        response=BacktestView,
        empty_statuses=(204,),
        errors=(404,),
    ),
]
