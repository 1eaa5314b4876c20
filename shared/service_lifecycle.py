"""Running a service until SIGTERM or SIGINT, which set its `stopping` event."""

import asyncio
import logging
import signal
from collections.abc import Callable, Coroutine
from typing import Any

from shared.dependencies import StoppedWhileWaiting
from shared.settings import Settings

log = logging.getLogger(__name__)

# A service runs until its `stopping` event is set, then finishes what it holds and returns.
Service = Callable[[Settings, asyncio.Event], Coroutine[Any, Any, None]]


def serve_until_signalled(service: Service, settings: Settings) -> None:
    async def serve() -> None:
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
        try:
            await service(settings, stopping)
        except StoppedWhileWaiting as exc:
            log.info("stopped before it started", extra={"waiting_for": str(exc)})

    asyncio.run(serve())
