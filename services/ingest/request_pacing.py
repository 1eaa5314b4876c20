"""Client-side pacing below Bybit's IP limit, and a host-wide pause after a 403."""

import asyncio

from aiolimiter import AsyncLimiter

# Bybit counts 600 requests per 5 s window; bursts are kept to a tenth of a second's worth so
# that a burst plus five seconds at the steady rate still fits inside any window.
_BURST_SECONDS = 0.1


class RequestPacer:
    def __init__(self, requests_per_second: float) -> None:
        burst = max(1.0, requests_per_second * _BURST_SECONDS)
        self._limiter = AsyncLimiter(burst, burst / requests_per_second)
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
