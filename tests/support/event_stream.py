"""Reading the API's Server-Sent Events (`GET /api/v1/events`) in tests."""

import asyncio
import json
from typing import Any

from aiohttp import ClientResponse


async def next_event(stream: ClientResponse, within: float = 60) -> dict[str, Any]:
    """The next event of the stream: its SSE id as `event_id`, its name, its data's fields."""

    async def read() -> dict[str, Any]:
        fields: dict[str, str] = {}
        while True:
            line = (await stream.content.readline()).decode().rstrip("\n")
            if line == "":
                if "data" in fields:
                    data = json.loads(fields["data"])
                    return {"event_id": fields["id"], "event": fields["event"], **data}
                fields = {}
            elif not line.startswith(":"):
                key, _, value = line.partition(": ")
                fields[key] = value

    return await asyncio.wait_for(read(), within)


async def events_until(stream: ClientResponse, job_id: str, status: str) -> list[dict[str, Any]]:
    """Every event of the stream (any job's) up to the first of `job_id` with `status`."""
    seen: list[dict[str, Any]] = []
    while not seen or (seen[-1]["id"], seen[-1]["status"]) != (job_id, status):
        seen.append(await next_event(stream))
    return seen


async def events_of(stream: ClientResponse, job_id: str, until: str) -> list[dict[str, Any]]:
    """This job's events, up to the first with status `until` (others' are skipped)."""
    return [e for e in await events_until(stream, job_id, until) if e["id"] == job_id]
