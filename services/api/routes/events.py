"""GET /api/v1/events: Server-Sent Events of job status and progress, from the process's hub."""

from collections.abc import AsyncIterator

import orjson
from aiohttp import web

from services.api.endpoints import Endpoint
from services.api.job_events import JOB_EVENTS, JobEventHub, running_hub
from services.api.keys import BROKER, POOL, SETTINGS
from shared.amqp import Topology

EVENTS_PATH = "/api/v1/events"
# A comment line this often keeps proxies and the client's reader from timing the stream out.
KEEPALIVE_SECONDS = 15.0
RETRY_MILLISECONDS = 2000


async def events(request: web.Request) -> web.StreamResponse:
    hub = request.app[JOB_EVENTS]
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    await response.write(f"retry: {RETRY_MILLISECONDS}\n\n".encode())
    # A new client starts from now (the pages read the current state first); one that
    # reconnects gets what it missed.
    cursor = request.headers.get("Last-Event-ID") or hub.latest_id()
    try:
        while not hub.closed:
            pending = hub.after(cursor)
            if pending:
                for event in pending:
                    data = orjson.dumps(event.data).decode()
                    block = f"id: {hub.event_id(event)}\nevent: job\ndata: {data}\n\n"
                    await response.write(block.encode())
                cursor = hub.event_id(pending[-1])
            elif not await hub.wait(KEEPALIVE_SECONDS):
                await response.write(b": keepalive\n\n")
    except ConnectionError:  # the client went away
        return response
    await response.write_eof()
    return response


ENDPOINTS = [
    Endpoint(
        "GET",
        EVENTS_PATH,
        events,
        "Job status and progress as Server-Sent Events (resumes from Last-Event-ID)",
        "events",
        content_type="text/event-stream",
        operation_id="streamJobEvents",
    ),
]


async def end_streams(app: web.Application) -> None:
    """on_shutdown: open streams end, so stopping the API does not wait for its clients."""
    if JOB_EVENTS in app:
        app[JOB_EVENTS].close()


async def job_event_hub(app: web.Application) -> AsyncIterator[None]:
    """A cleanup context: the hub and its feeds, for as long as the API runs."""
    hub = app[JOB_EVENTS] = JobEventHub()
    settings = app[SETTINGS]
    topology = Topology(settings.amqp_prefix)
    publish = app[BROKER].publish_live if BROKER in app else None
    async for _ in running_hub(hub, app[POOL], settings.amqp_url, topology, publish):
        yield
