"""Waiting for a condition with a deadline: poll, never assume how long something takes.

Shared by devtools, the benchmarks and the tests, which all run on machines of unknown load.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


class StillWaiting(TimeoutError):
    """The deadline passed; `last` is what was read last, for the message or a partial result."""

    def __init__(self, what: str, within: float, last: Any) -> None:
        super().__init__(f"{what}: still not so after {within:g} s (last: {last!r:.300})")
        self.last = last


async def poll_until(
    read: Callable[[], Awaitable[T]],
    done: Callable[[T], bool] = bool,
    *,
    within: float,
    every: float = 0.1,
    what: str = "condition",
) -> T:
    """Call `read` every `every` seconds until `done` holds for what it returned; that value.
    Raises StillWaiting after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        value = await read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise StillWaiting(what, within, value)
        await asyncio.sleep(every)
