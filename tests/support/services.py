"""Services running inside the test's event loop, and following jobs through the API."""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from services.engine.service import run_engine
from services.ingest.service import run_ingest
from shared.jobs import TERMINAL_STATUSES
from shared.service_lifecycle import Service
from shared.settings import Settings


@contextlib.asynccontextmanager
async def running(service: Service, settings: Settings) -> AsyncIterator[None]:
    """Run a service until the block ends, then stop it as SIGTERM would."""
    stopping = asyncio.Event()
    task = asyncio.create_task(service(settings, stopping))
    try:
        yield
    finally:
        stopping.set()
        await asyncio.wait_for(task, timeout=60)


def running_engine(settings: Settings) -> contextlib.AbstractAsyncContextManager[None]:
    return running(run_engine, settings)


def running_ingest(settings: Settings) -> contextlib.AbstractAsyncContextManager[None]:
    return running(run_ingest, settings)


async def settled(
    api: TestClient[web.Request, web.Application], location: str, within: float = 60
) -> dict[str, Any]:
    """Poll a job's resource until it has ended."""
    deadline = time.monotonic() + within
    while True:
        body: dict[str, Any] = await (await api.get(location)).json()
        if body["status"] in TERMINAL_STATUSES:
            return body
        assert time.monotonic() < deadline, f"still {body['status']}"
        await asyncio.sleep(0.05)
