"""Running the sim inside the caller's event loop (tests, benchmarks) or as a process."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiohttp import web

from services.bybit_sim.app import create_app
from services.bybit_sim.candles import CandleBook
from services.bybit_sim.clock import SimClock
from services.bybit_sim.keys import BOOK, CLOCK, MARK_BOOK, SETTINGS
from services.bybit_sim.settings import SimSettings


@dataclass(frozen=True)
class RunningSim:
    app: web.Application
    host: str
    port: int

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        """Append the category like on Bybit: f"{ws_url}/linear"."""
        return f"ws://{self.host}:{self.port}/v5/public"

    @property
    def book(self) -> CandleBook:
        return self.app[BOOK]

    @property
    def mark_book(self) -> CandleBook:
        return self.app[MARK_BOOK]

    @property
    def settings(self) -> SimSettings:
        return self.app[SETTINGS]

    @property
    def clock(self) -> SimClock:
        return self.app[CLOCK]


@asynccontextmanager
async def running_sim(settings: SimSettings) -> AsyncIterator[RunningSim]:
    """Serve on settings.host:settings.port (0 picks a free port) until the block exits."""
    app = create_app(settings)
    # Short shutdown: open WebSockets are cut by the app's cleanup anyway.
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    try:
        port = int(runner.addresses[0][1])
        # A wildcard bind is reached through the loopback address.
        host = "127.0.0.1" if settings.host in ("0.0.0.0", "", "::") else settings.host
        yield RunningSim(app, host, port)
    finally:
        await runner.cleanup()
