"""Bybit's IP rate limit: N requests per rolling window per IP, and a ban for breaking it."""

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    remaining: int
    # Real seconds until the oldest counted request leaves the window (or the ban ends).
    reset_in_seconds: float
    banned_now: bool = False  # this very request started a ban


class IpRateLimiter:
    """Real (not sim) time: the limit is about how fast a client really calls."""

    def __init__(
        self,
        requests: int,
        window_seconds: float,
        ban_seconds: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.requests = requests
        self.window_seconds = window_seconds
        self.ban_seconds = ban_seconds
        self._monotonic = monotonic
        self._seen: dict[str, deque[float]] = {}
        self._banned_until: dict[str, float] = {}

    def check(self, ip: str) -> Verdict:
        now = self._monotonic()
        banned_until = self._banned_until.get(ip)
        if banned_until is not None:
            if now < banned_until:
                return Verdict(False, 0, banned_until - now)
            del self._banned_until[ip]
        seen = self._seen.setdefault(ip, deque())
        while seen and seen[0] <= now - self.window_seconds:
            seen.popleft()
        if len(seen) >= self.requests:
            self._banned_until[ip] = now + self.ban_seconds
            seen.clear()
            return Verdict(False, 0, self.ban_seconds, banned_now=True)
        seen.append(now)
        return Verdict(True, self.requests - len(seen), seen[0] + self.window_seconds - now)

    def is_banned(self, ip: str) -> bool:
        return self._banned_until.get(ip, 0.0) > self._monotonic()

    def reset(self) -> None:
        self._seen.clear()
        self._banned_until.clear()
