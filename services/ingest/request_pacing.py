"""Client-side pacing below Bybit's IP limit, and a host-wide pause after a 403."""

import asyncio

from aiolimiter import AsyncLimiter


class RequestPacer:
    def __init__(self, requests_per_second: float) -> None:
        # Evenly spaced with room for one late wake-up (the event loop's timers run late by
        # up to a millisecond): any window of W seconds holds at most W x rate + 2 requests,
        # whatever window length the exchange counts over.
        self._limiter = AsyncLimiter(2, 2 / requests_per_second)
        self._paused_until = 0.0

    def pause(self, seconds: float) -> None:
        """Hold every request (a 403 means the IP is banned for a while)."""
        loop = asyncio.get_running_loop()
        self._paused_until = max(self._paused_until, loop.time() + seconds)

    async def wait_turn(self) -> None:
        loop = asyncio.get_running_loop()
        # The pause may be extended while we sleep, so look again after each wait.
        while (delay := self._paused_until - loop.time()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(delay)
        await self._limiter.acquire()
