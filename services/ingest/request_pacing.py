"""Client-side pacing below Bybit's IP limit, and a host-wide pause after a 403.

Bybit counts an IP's requests over a sliding window (600 per 5 s). The pacer keeps the times
its last requests were sent and lets the next one go only when, measured on those times, the
window has room: at most `burst` requests in any `burst / rate` seconds. So any window of W
seconds holds at most W x rate + `burst` requests, whatever window length the exchange counts
over; and a process whose event loop was starved for a while sends no catch-up burst when it
runs again: the time it lost is time without sends, not credit.
"""

import asyncio
from collections import deque

# Two in a row leaves room for one late wake-up of the event loop's timers.
BURST = 2
# How late a timer may fire and still count as on time: any window of W seconds then holds at
# most (W + LATE_WAKE_UP) x rate + BURST requests.
LATE_WAKE_UP = 0.002


class RequestPacer:
    def __init__(self, requests_per_second: float, burst: int = BURST) -> None:
        self._window = burst / requests_per_second
        self._sent: deque[float] = deque(maxlen=burst)
        self._turns = asyncio.Lock()  # waiters take their turns in order
        self._paused_until = 0.0

    def pause(self, seconds: float) -> None:
        """Hold every request (a 403 means the IP is banned for a while)."""
        loop = asyncio.get_running_loop()
        self._paused_until = max(self._paused_until, loop.time() + seconds)

    async def wait_turn(self) -> None:
        """Until a request may be sent now; it is counted as sent when this returns (or when it
        was due, if its timer fired at most LATE_WAKE_UP late)."""
        loop = asyncio.get_running_loop()
        async with self._turns:
            # The pause may be extended while we sleep, so look again after each wait.
            now = due = loop.time()
            while (delay := self._delay(now)) > 0:
                due = now + delay
                await asyncio.sleep(delay)
                now = loop.time()
            # A timer that fires a little late (epoll rounds its wait up to the millisecond)
            # counts at its due time, so lateness does not add up send after send; a longer
            # delay (a starved loop) counts from now: no catch-up.
            self._sent.append(now if now - due > LATE_WAKE_UP else due)

    def _delay(self, now: float) -> float:
        paused = self._paused_until - now
        if len(self._sent) < (self._sent.maxlen or 0):
            return paused
        return max(paused, self._sent[0] + self._window - now)
