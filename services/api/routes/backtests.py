"""Backtest jobs: submit, list, read results, cancel or delete."""

from aiohttp import web
from pydantic import Field

from services.api.endpoints import (
    Endpoint,
    accepted,
    cancel_or_delete,
    existing,
    json_response,
    read_query,
)
from services.api.equity_stream import EquityPoint, EquityQuery, stream_equity
from services.api.errors import Conflict
from services.api.job_submission import post_job
from services.api.keys import POOL
from services.api.paging import JobFilter, Page, PageQuery
from services.api.period_returns import PeriodReturn, ReturnsQuery, returns_by_period
from shared.backtest_spec import BacktestSpec
from shared.metric_names import MetricKey
from shared.repos import backtests as backtests_repo
from shared.repos.backtests import BacktestView, Trade
from shared.series_range import Symbol


class BacktestFilter(JobFilter):
    order_by: MetricKey | None = Field(
        default=None,
        description="a metric key: best first (max_drawdown lowest first), null last; "
        "without it, newest first",
    )


async def create(request: web.Request) -> web.Response:
    return await post_job(request, "backtest")


async def list_all(request: web.Request) -> web.Response:
    query = read_query(request, BacktestFilter)
    # The filter's fields are the listing's keyword arguments.
    items, total = await backtests_repo.list_backtests(request.app[POOL], **query.model_dump())
    return json_response(Page[BacktestView](items=items, total=total))


async def _existing(request: web.Request) -> BacktestView:
    return await existing(request, "backtest", backtests_repo.get_backtest)


async def get_one(request: web.Request) -> web.Response:
    return json_response(await _existing(request))


class TradesQuery(PageQuery):
    symbol: Symbol | None = Field(default=None, description="a portfolio's trades of this symbol")


async def trades(request: web.Request) -> web.Response:
    query = read_query(request, TradesQuery)
    view = await _existing(request)
    items, total = await backtests_repo.trades_page(
        request.app[POOL], view.id, limit=query.limit, offset=query.offset, symbol=query.symbol
    )
    return json_response(Page[Trade](items=items, total=total))


async def equity(request: web.Request) -> web.StreamResponse:
    query = read_query(request, EquityQuery)
    view = await _existing(request)
    return await stream_equity(request, request.app[POOL], view.id, query.points)


async def returns(request: web.Request) -> web.Response:
    """The equity curve's return per year, month, week or day."""
    query = read_query(request, ReturnsQuery)
    view = await _existing(request)
    capital = float(view.request["initial_capital"])
    items = await returns_by_period(request.app[POOL], view.id, capital, query.period)
    return json_response(Page[PeriodReturn](items=items, total=len(items)))


async def rerun(request: web.Request) -> web.Response:
    """The same stored request again, as a new backtest that says whether it reproduced."""
    original = await _existing(request)
    if original.status != "succeeded":
        raise Conflict(f"only a succeeded backtest can be rerun; this one is {original.status}")
    view = await backtests_repo.create_backtest(
        request.app[POOL], original.request, rerun_of=original.id
    )
    return accepted(view, f"/api/v1/backtests/{view.id}")


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
        errors=(400, 409, 413, 415, 422),
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
        "The trade list (a portfolio's: of one symbol with `symbol`)",
        "backtests",
        query=TradesQuery,
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
        "GET",
        "/api/v1/backtests/{id}/returns",
        returns,
        "The equity curve's return per period (year, month, ISO week or day, UTC)",
        "backtests",
        query=ReturnsQuery,
        response=Page[PeriodReturn],
        errors=(404, 422),
    ),
    Endpoint(
        "POST",
        "/api/v1/backtests/{id}/rerun",
        rerun,
        "Run the same request again as a new backtest that says whether it reproduced",
        "backtests",
        response=BacktestView,
        status=202,
        errors=(404, 409),
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
