"""A small client of the platform's REST API for the demo: submit jobs and follow them."""

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp

from shared.jobs import TERMINAL_STATUSES


class ApiError(Exception):
    pass


class ApiClient:
    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self._session = session
        self._base = base_url.rstrip("/") + "/api/v1"

    async def get(self, path: str, **params: Any) -> Any:
        async with self._session.get(self._base + path, params=params) as resp:
            return await self._body(resp)

    async def post(self, path: str, body: dict[str, Any]) -> Any:
        async with self._session.post(self._base + path, json=body) as resp:
            return await self._body(resp)

    @staticmethod
    async def _body(resp: aiohttp.ClientResponse) -> Any:
        body = await resp.json()
        if resp.status >= 400:
            error = body.get("error", {})
            raise ApiError(f"HTTP {resp.status} {error.get('code')}: {error.get('message')}")
        return body

    async def follow(
        self,
        path: str,
        on_update: Callable[[dict[str, Any]], None] = lambda _: None,
        within: float = 600,
    ) -> dict[str, Any]:
        """Poll a job until it ends, reporting each state; the final state."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            job: dict[str, Any] = await self.get(path)
            on_update(job)
            if job["status"] in TERMINAL_STATUSES:
                return job
            if loop.time() > deadline:
                raise ApiError(f"{path} still {job['status']} after {within:.0f} s")
            await asyncio.sleep(0.25)
