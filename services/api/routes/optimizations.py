"""Optimization jobs: grid search and walk-forward, their progress, ranked results, cancel."""

from typing import Any, Literal
from uuid import UUID

from aiohttp import web
from pydantic import ConfigDict

from services.api.endpoints import (
    Endpoint,
    accepted,
    existing,
    json_response,
    read_body,
    read_query,
)
from services.api.errors import Unprocessable
from services.api.idempotency import job_gone, submit_once
from services.api.job_requests import stored_bars
from services.api.keys import POOL
from services.api.paging import Page, PageQuery
from shared.db import DbConnection
from shared.metric_names import METRIC_KEYS
from shared.optimization_spec import OptimizationSpec, WalkForward
from shared.repos import optimizations as optimizations_repo
from shared.repos.optimizations import OptimizationView

OrderBy = Literal[(*METRIC_KEYS, "window")]  # type: ignore[valid-type]


class ResultsQuery(PageQuery):
    model_config = ConfigDict(extra="forbid")

    order_by: OrderBy = "sharpe"


def walk_forward_windows(bars: int, plan: WalkForward) -> int:
    """Windows while a whole test window fits after the train bars."""
    fitting = bars - plan.train_bars - plan.test_bars
    return 0 if fitting < 0 else fitting // plan.test_bars + 1


async def create(request: web.Request) -> web.Response:
    spec = await read_body(request, OptimizationSpec)
    pool = request.app[POOL]
    bars = await stored_bars(pool, spec.backtest, prefix="backtest.")
    runs, skipped = spec.combinations()
    if not runs:
        raise Unprocessable.for_field(
            "param_grid", f"all {skipped} combinations break the strategy's own rule"
        )
    total = len(runs)
    if spec.kind == "walk_forward":
        assert spec.walk_forward is not None
        windows = walk_forward_windows(bars, spec.walk_forward)
        if windows == 0:
            raise Unprocessable.for_field(
                "walk_forward.train_bars",
                f"train_bars + test_bars exceed the {bars} stored bars of the range",
            )
        total = windows * (len(runs) + 1)  # the grid on each train window, then its test run

    async def insert(conn: DbConnection) -> UUID:
        request_json = spec.model_dump(mode="json")
        return await optimizations_repo.create_optimization(
            conn, spec.kind, request_json, total, skipped
        )

    submission = await submit_once(request, "optimizations", spec, insert)
    view = await optimizations_repo.get_optimization(pool, submission.job_id)
    if view is None:
        raise job_gone("optimization", submission)
    return accepted(view, f"/api/v1/optimizations/{view.id}", submission.headers)


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
        query.order_by,
        limit=query.limit,
        offset=query.offset,
    )
    return json_response({"items": items, "total": total})


async def cancel(request: web.Request) -> web.Response:
    view = await _existing(request)
    await optimizations_repo.cancel_optimization(request.app[POOL], view.id)
    return json_response(await _existing(request))


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
        response=Page[dict[str, Any]],
        errors=(404, 422),
    ),
    Endpoint(
        "DELETE",
        "/api/v1/optimizations/{id}",
        cancel,
        "Cancel: queued work is dropped, running work stops",
        "optimizations",
        response=OptimizationView,
        errors=(404,),
    ),
]
