"""Backfill jobs: queue one, follow them, cancel or delete one."""

from aiohttp import web

from services.api.endpoints import (
    Endpoint,
    cancel_or_delete,
    existing,
    json_response,
    read_query,
)
from services.api.job_submission import post_job
from services.api.keys import POOL
from services.api.paging import Page, PageQuery
from shared.repos.backfills import (
    BackfillSpec,
    BackfillView,
    get_backfill,
    list_backfills,
)


async def create(request: web.Request) -> web.Response:
    return await post_job(request, "backfill")


async def list_all(request: web.Request) -> web.Response:
    query = read_query(request, PageQuery)
    items, total = await list_backfills(request.app[POOL], limit=query.limit, offset=query.offset)
    return json_response(Page[BackfillView](items=items, total=total))


async def get_one(request: web.Request) -> web.Response:
    return json_response(await existing(request, "backfill", get_backfill))


async def delete(request: web.Request) -> web.Response:
    # Cancelled, the ingest stops before its next commit; deleted, its candles stay.
    return await cancel_or_delete(request, "backfill_run", "backfill", get_backfill)


ENDPOINTS = [
    Endpoint(
        "POST",
        "/api/v1/backfills",
        create,
        "Queue a backfill",
        "backfills",
        body=BackfillSpec,
        response=BackfillView,
        status=202,
        errors=(400, 409, 413, 415, 422),
    ),
    Endpoint(
        "GET",
        "/api/v1/backfills",
        list_all,
        "Backfills, newest first",
        "backfills",
        query=PageQuery,
        response=Page[BackfillView],
        errors=(422,),
    ),
    Endpoint(
        "GET",
        "/api/v1/backfills/{id}",
        get_one,
        "A backfill's status and progress",
        "backfills",
        response=BackfillView,
        errors=(404,),
    ),
    Endpoint(
        "DELETE",
        "/api/v1/backfills/{id}",
        delete,
        "Cancel if queued or running (the ingest stops at its next commit), else delete",
        "backfills",
        response=BackfillView,
        errors=(404,),
    ),
]
