"""Optimization jobs: grid search and walk-forward, their progress, ranked results, cancel."""

from typing import Literal
from uuid import UUID

import numpy as np
from aiohttp import web
from pydantic import ConfigDict, Field

from domain.market.intervals import iso_utc
from domain.metrics.names import METRIC_KEYS
from domain.optimization.walk_forward import (
    WalkForwardRejected,
    chain_scales,
    checked_window_count,
    progress_total,
)
from services.api.endpoints import (
    Endpoint,
    cancel_or_delete,
    existing,
    json_response,
    read_body,
    read_query,
)
from services.api.equity_stream import EquityPoint, EquityQuery, drawdowns, kept_points
from services.api.errors import NotFound, Unprocessable
from services.api.idempotency import accept_once
from services.api.job_requests import ensure_perpetual_limits, prepared_backtest, stored_bars
from services.api.keys import POOL
from services.api.paging import JobFilter, Page, PageQuery
from shared.db import DbConnection
from shared.optimization_spec import OptimizationKind, OptimizationSpec
from shared.repos import optimizations as optimizations_repo
from shared.repos.optimizations import OptimizationView, ResultRow

OrderBy = Literal[(*METRIC_KEYS, "window")]  # type: ignore[valid-type]


class ResultsQuery(PageQuery):
    model_config = ConfigDict(extra="forbid")

    order_by: OrderBy | None = Field(
        default=None,
        description="a metric key (best first; walk-forward windows by their test metrics) or "
        "`window`; default: the optimization's objective",
    )


class OptimizationFilter(JobFilter):
    kind: OptimizationKind | None = None


async def create(request: web.Request) -> web.Response:
    pool = request.app[POOL]
    spec = await read_body(
        request,
        OptimizationSpec,
        lambda body: prepared_backtest(pool, body, ("backtest",)),
    )
    bars = await stored_bars(pool, spec.backtest, prefix="backtest.")
    leverage = spec.grid.get("leverage", [])
    await ensure_perpetual_limits(pool, spec.backtest, "backtest.", leverage)
    runs, skipped = spec.combinations()
    if not runs:
        raise Unprocessable.for_field(
            "param_grid", f"all {skipped} combinations break the strategy's own rule"
        )
    windows = None
    if spec.kind == "walk_forward":
        assert spec.walk_forward is not None
        try:
            windows = checked_window_count(bars, spec.walk_forward, len(runs))
        except WalkForwardRejected as exc:
            raise Unprocessable.for_field(exc.field, exc.message) from None
    total = progress_total(len(runs), windows)

    async def insert(conn: DbConnection) -> UUID:
        request_json = spec.model_dump(mode="json")
        return await optimizations_repo.create_optimization(
            conn, spec.kind, request_json, total, skipped
        )

    return await accept_once(
        request, "optimizations", "optimization", spec, insert, optimizations_repo.get_optimization
    )


async def list_all(request: web.Request) -> web.Response:
    query = read_query(request, OptimizationFilter)
    # The filter's fields are the listing's keyword arguments.
    items, total = await optimizations_repo.list_optimizations(
        request.app[POOL], **query.model_dump()
    )
    return json_response(Page[OptimizationView](items=items, total=total))


async def _existing(request: web.Request) -> OptimizationView:
    return await existing(request, "optimization", optimizations_repo.get_optimization)


async def get_one(request: web.Request) -> web.Response:
    return json_response(await _existing(request))


async def results(request: web.Request) -> web.Response:
    query = read_query(request, ResultsQuery)
    view = await _existing(request)
    items, total = await optimizations_repo.results_page(
        request.app[POOL],
        view.id,
        view.kind,
        query.order_by or view.request.get("objective", "sharpe"),
        limit=query.limit,
        offset=query.offset,
    )
    return json_response({"items": items, "total": total})


async def out_of_sample_equity(request: web.Request) -> web.Response:
    """A walk-forward's test windows chained into one equity curve (each window scaled by the
    growth of the windows before it), full or downsampled to at most `points`."""
    query = read_query(request, EquityQuery)
    view = await _existing(request)
    if view.kind != "walk_forward":
        raise NotFound("only a walk-forward optimization has an out-of-sample curve")
    outcomes = await optimizations_repo.test_outcomes(request.app[POOL], view.id)
    capital = float(view.request["backtest"]["initial_capital"])
    finals = [float(equity[-1]) if equity.size else None for _, _, equity in outcomes]
    scales = chain_scales(finals, capital)
    times = np.concatenate([t for _, t, _ in outcomes]) if outcomes else np.empty(0, np.int64)
    values = (
        np.concatenate([e * k for (_, _, e), k in zip(outcomes, scales, strict=True)])
        if outcomes
        else np.empty(0)
    )
    falls, _ = drawdowns(values)
    kept = kept_points(times.size, query.points)
    if kept is not None:
        times, values, falls = times[kept], values[kept], falls[kept]
    items = [
        EquityPoint(time=iso_utc(int(t)), equity=float(v), drawdown=float(d))
        for t, v, d in zip(times, values, falls, strict=True)
    ]
    return json_response(Page[EquityPoint](items=items, total=len(items)))


async def delete(request: web.Request) -> web.Response:
    return await cancel_or_delete(
        request, "optimizations", "optimization", optimizations_repo.get_optimization
    )


ENDPOINTS = [
    Endpoint(
        "POST",
        "/api/v1/optimizations",
        create,
        "Submit a grid or walk-forward optimization",
        "optimizations",
        body=OptimizationSpec,
        response=OptimizationView,
        status=202,
        errors=(400, 409, 413, 415, 422),
    ),
    Endpoint(
        "GET",
        "/api/v1/optimizations",
        list_all,
        "Optimizations, newest first",
        "optimizations",
        query=OptimizationFilter,
        response=Page[OptimizationView],
        errors=(422,),
    ),
    Endpoint(
        "GET",
        "/api/v1/optimizations/{id}",
        get_one,
        "Status, progress and the best parameters",
        "optimizations",
        response=OptimizationView,
        errors=(404,),
    ),
    Endpoint(
        "GET",
        "/api/v1/optimizations/{id}/results",
        results,
        "One row per parameter set (per window for walk-forward), best first",
        "optimizations",
        query=ResultsQuery,
        response=Page[ResultRow],
        errors=(404, 422),
    ),
    Endpoint(
        "GET",
        "/api/v1/optimizations/{id}/equity",
        out_of_sample_equity,
        "A walk-forward's out-of-sample equity: the test windows chained into one curve",
        "optimizations",
        query=EquityQuery,
        response=Page[EquityPoint],
        errors=(404, 422),
        operation_id="getOptimizationOutOfSampleEquity",
    ),
    Endpoint(
        "DELETE",
        "/api/v1/optimizations/{id}",
        delete,
        "Cancel if queued or running (200; queued work is dropped, running work stops), "
        "else delete it with its results (204)",
        "optimizations",
        response=OptimizationView,
        empty_statuses=(204,),
        errors=(404,),
    ),
]
