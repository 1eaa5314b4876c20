"""The open WebSocket connections, so control routes can cut them or refuse new ones."""

import time
from collections.abc import Callable

from aiohttp import WSCloseCode, web


class WsHub:
    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self.sockets: set[web.WebSocketResponse] = set()
        self._refuse_until = 0.0

    def refusing(self) -> bool:
        return self._monotonic() < self._refuse_until

    def refuse_for(self, seconds: float) -> None:
        self._refuse_until = self._monotonic() + seconds

    async def drop_all(self) -> int:
        """Close every socket now (like a network cut seen from the client); returns how many."""
        sockets = list(self.sockets)
        for ws in sockets:
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"dropped by bybit-sim")
        return len(sockets)
