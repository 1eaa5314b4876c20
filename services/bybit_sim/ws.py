"""Bybit's public V5 WebSocket: subscribe, ping/pong and kline pushes."""

import asyncio
import contextlib
import time
import uuid

import orjson
from aiohttp import WSMsgType, web

from domain.market.intervals import INTERVALS, floor_open_time
from services.bybit_sim.candles import CandleBook
from services.bybit_sim.clock import SimClock
from services.bybit_sim.keys import BOOK, CLOCK, SETTINGS, STATS, WS_HUB

SPOT_MAX_ARGS = 10
_ENDINGS = (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR)


class Connection:
    """One client socket: its subscriptions and, per topic, the open time of the candle it
    last saw in progress, so that every candle closing later is confirmed exactly once."""

    def __init__(
        self, ws: web.WebSocketResponse, category: str, book: CandleBook, clock: SimClock
    ) -> None:
        self.ws = ws
        self.category = category
        self.book = book
        self.clock = clock
        self.conn_id = str(uuid.uuid4())
        self.topics: dict[str, tuple[str, str, int]] = {}  # topic -> interval, symbol, since
        self._send_lock = asyncio.Lock()

    async def send(self, message: dict[str, object]) -> None:
        async with self._send_lock:
            if not self.ws.closed:
                await self.ws.send_str(orjson.dumps(message).decode())

    def answer(self, text: str) -> dict[str, object]:
        try:
            request = orjson.loads(text)
        except orjson.JSONDecodeError:
            request = None
        if not isinstance(request, dict):
            return self._ack("", "", False, "error:request not json")
        op = str(request.get("op", ""))
        req_id = str(request.get("req_id", ""))
        if op == "ping":
            pong: dict[str, object] = {"success": True, "ret_msg": "pong", "conn_id": self.conn_id}
            if req_id:
                pong["req_id"] = req_id
            pong["op"] = "ping"
            return pong
        args = request.get("args")
        if op not in ("subscribe", "unsubscribe"):
            return self._ack(op, req_id, False, f"error:unsupported op {op!r}")
        if not isinstance(args, list) or not args or not all(isinstance(a, str) for a in args):
            return self._ack(op, req_id, False, "error:args must be a list of topics")
        if self.category == "spot" and len(args) > SPOT_MAX_ARGS:
            return self._ack(op, req_id, False, f"args size >{SPOT_MAX_ARGS}")
        error = self._subscribe(args) if op == "subscribe" else self._unsubscribe(args)
        return self._ack(op, req_id, error is None, error or "")

    def _ack(self, op: str, req_id: str, success: bool, message: str) -> dict[str, object]:
        return {
            "success": success,
            "ret_msg": message,
            "conn_id": self.conn_id,
            "req_id": req_id,
            "op": op,
        }

    def _subscribe(self, topics: list[str]) -> str | None:
        parsed = {}
        for topic in topics:
            parts = topic.split(".")
            if len(parts) != 3 or parts[0] != "kline" or parts[1] not in INTERVALS:
                return f"error:handler not found,topic:{topic}"
            if self.book.instrument(self.category, parts[2]) is None:
                return f"Invalid symbol :[{topic}]"
            if topic in self.topics:
                return f"error:already subscribed,topic:{topic}"
            parsed[topic] = parts[1], parts[2]
        now = self.clock.now_ms()
        for topic, (interval, symbol) in parsed.items():
            self.topics[topic] = interval, symbol, floor_open_time(now, interval)
        return None

    def _unsubscribe(self, topics: list[str]) -> str | None:
        missing = [t for t in topics if t not in self.topics]
        if missing:
            return f"error:not subscribed,topic:{missing[0]}"
        for topic in topics:
            del self.topics[topic]
        return None

    async def push(self) -> None:
        now = self.clock.now_ms()
        for topic, (interval, symbol, since) in list(self.topics.items()):
            candles = self.book.ws_candles(self.category, symbol, interval, since, now)
            if topic in self.topics:
                self.topics[topic] = interval, symbol, floor_open_time(now, interval)
            for candle in candles:
                await self.send({"topic": topic, "data": [candle], "ts": now, "type": "snapshot"})


async def _push_loop(conn: Connection, every: float, drop_after: float | None) -> None:
    opened = time.monotonic()
    with contextlib.suppress(ConnectionError):  # the client went away between two pushes
        while not conn.ws.closed:
            await asyncio.sleep(every)
            if drop_after is not None and time.monotonic() - opened >= drop_after:
                await conn.ws.close(message=b"dropped by bybit-sim")
                return
            await conn.push()


async def public_stream(request: web.Request) -> web.StreamResponse:
    app = request.app
    stats, hub, settings = app[STATS], app[WS_HUB], app[SETTINGS]
    if hub.refusing():
        stats.ws_refused += 1
        return web.Response(status=503, text="Service Unavailable")
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    conn = Connection(ws, request.match_info["category"], app[BOOK], app[CLOCK])
    hub.sockets.add(ws)
    stats.ws_open += 1
    stats.ws_opened_total += 1
    pusher = asyncio.create_task(
        _push_loop(conn, settings.ws_push_interval_seconds, settings.ws_drop_after_seconds)
    )
    try:
        while not ws.closed:
            try:
                message = await ws.receive(timeout=settings.ws_idle_timeout_seconds)
            except TimeoutError:
                break  # silent too long: Bybit cuts such connections
            if message.type == WSMsgType.TEXT:
                await conn.send(conn.answer(message.data))
            elif (
                message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED)
                or message.type == WSMsgType.ERROR
            ):
                break
    finally:
        pusher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pusher
        await ws.close()
        hub.sockets.discard(ws)
        stats.ws_open -= 1
    return ws


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v5/public/{category:spot|linear|inverse}", public_stream)
