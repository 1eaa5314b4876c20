"""Bybit's public V5 REST market routes, and the gate in front of them (IP limit, faults)."""

import asyncio
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web

from services.bybit_sim.faults import Fault
from services.bybit_sim.keys import BOOK, CLOCK, FAULTS, LIMITER, REQUEST_NOW, STATS
from shared.intervals import CATEGORIES, INTERVALS

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_BAD_GATEWAY = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"
)


class ParamError(Exception):
    """A business error: HTTP 200 with retCode 10001."""


def envelope(now_ms: int, result: object, code: int = 0, message: str = "OK") -> web.Response:
    body = {"retCode": code, "retMsg": message, "result": result, "retExtInfo": {}, "time": now_ms}
    return web.Response(body=orjson.dumps(body), content_type="application/json")


def _is_bybit_rest(request: web.Request) -> bool:
    return not request.path.startswith(("/sim/", "/v5/public/"))


@web.middleware
async def bybit_gate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """IP limit first (a banned client gets 403 whatever it asks), then latency and faults."""
    if not _is_bybit_rest(request):
        return await handler(request)
    app = request.app
    stats, faults, limiter, clock = app[STATS], app[FAULTS], app[LIMITER], app[CLOCK]
    stats.requests += 1
    verdict = limiter.check(request.remote or "unknown") if faults.rate_limit_enabled else None
    if verdict is not None and not verdict.allowed:
        stats.forbidden += 1
        stats.bans += verdict.banned_now
        return web.Response(status=403, text="access too frequent")
    if faults.latency_ms:
        await asyncio.sleep(faults.latency_ms / 1000)
    now = clock.now_ms()
    request[REQUEST_NOW] = now
    fault = faults.draw()
    if fault is Fault.DISCONNECT:
        stats.disconnects += 1
        if request.transport is not None:
            request.transport.close()
        raise asyncio.CancelledError  # nothing may be written to the closed transport
    if fault is Fault.HTTP_502:
        stats.faults_502 += 1
        return web.Response(status=502, text=_BAD_GATEWAY, content_type="text/html")
    if fault is Fault.TOO_MANY_VISITS:
        stats.faults_10006 += 1
        response = envelope(now, {}, 10006, "Too many visits!")
        _limit_headers(response, limiter.requests, 0, now + faults.reset_ms_10006)
        return response
    answer = await handler(request)
    if verdict is not None:
        # The reset is given in the envelope's clock: wait = reset - time, in real ms.
        reset = now + int(verdict.reset_in_seconds * 1000)
        _limit_headers(answer, limiter.requests, verdict.remaining, reset)
    return answer


def _limit_headers(response: web.StreamResponse, limit: int, remaining: int, reset: int) -> None:
    response.headers["X-Bapi-Limit"] = str(limit)
    response.headers["X-Bapi-Limit-Status"] = str(remaining)
    response.headers["X-Bapi-Limit-Reset-Timestamp"] = str(reset)


def _int_param(request: web.Request, name: str) -> int | None:
    text = request.query.get(name)
    if text is None or text == "":
        return None
    try:
        return int(text)
    except ValueError:
        raise ParamError(f"params error: {name} invalid") from None


def _category(request: web.Request, default: str | None) -> str:
    category = request.query.get("category", default)
    if category is None or category == "":
        raise ParamError("params error: category is required")
    if category not in CATEGORIES:
        raise ParamError("Illegal category")
    return category


def _now(request: web.Request) -> int:
    return request.get(REQUEST_NOW) or request.app[CLOCK].now_ms()


async def kline(request: web.Request) -> web.Response:
    now = _now(request)
    try:
        category = _category(request, "linear")
        symbol = request.query.get("symbol", "")
        if not symbol:
            raise ParamError("params error: symbol is required")
        book = request.app[BOOK]
        if book.instrument(category, symbol) is None:
            raise ParamError("Not supported symbols")
        interval = request.query.get("interval", "")
        if interval not in INTERVALS:
            raise ParamError("Invalid period!")
        limit = _int_param(request, "limit")
        limit = 200 if limit is None else limit
        if not 1 <= limit <= 1000:
            raise ParamError("params error: limit must be in [1, 1000]")
        start, end = _int_param(request, "start"), _int_param(request, "end")
    except ParamError as exc:
        return envelope(now, {}, 10001, str(exc))
    rows: list[list[str]] = []
    if start is None or end is None or start <= end:
        rows = book.kline_rows(category, symbol, interval, start, end, limit, now)
    return envelope(now, {"category": category, "symbol": symbol, "list": rows})


async def instruments_info(request: web.Request) -> web.Response:
    now = _now(request)
    try:
        category = _category(request, None)
        limit = _int_param(request, "limit")
        limit = 500 if limit is None else limit
        if not 1 <= limit <= 1000:
            raise ParamError("params error: limit must be in [1, 1000]")
        offset = _cursor_offset(request.query.get("cursor", ""))
    except ParamError as exc:
        return envelope(now, {}, 10001, str(exc))
    listed = request.app[BOOK].instruments(category)
    symbol = request.query.get("symbol")
    if symbol:
        listed = [inst for inst in listed if inst.symbol == symbol]
    result: dict[str, object] = {"category": category}
    if category == "spot":  # spot is not paged
        result["list"] = [inst.info() for inst in listed]
        return envelope(now, result)
    page = listed[offset : offset + limit]
    more = offset + limit < len(listed)
    result["list"] = [inst.info() for inst in page]
    result["nextPageCursor"] = f"offset%3D{offset + limit}" if more else ""
    return envelope(now, result)


def _cursor_offset(cursor: str) -> int:
    if not cursor:
        return 0
    prefix = "offset%3D" if cursor.startswith("offset%3D") else "offset="
    try:
        return max(0, int(cursor.removeprefix(prefix)))
    except ValueError:
        raise ParamError("params error: cursor invalid") from None


async def server_time(request: web.Request) -> web.Response:
    now = _now(request)
    return envelope(now, {"timeSecond": str(now // 1000), "timeNano": str(now * 1_000_000)})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v5/market/kline", kline)
    app.router.add_get("/v5/market/instruments-info", instruments_info)
    app.router.add_get("/v5/market/time", server_time)
