"""Bybit's public V5 REST market routes, and the gate in front of them (IP limit, faults)."""

import asyncio
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web

from domain.market.intervals import CATEGORIES, INTERVALS
from services.bybit_sim.candles import CandleBook, decimal_strings
from services.bybit_sim.faults import Fault
from services.bybit_sim.funding import funding_page, funding_rates
from services.bybit_sim.instruments import Instrument
from services.bybit_sim.keys import (
    BOOK,
    CLOCK,
    FAULTS,
    LIMITER,
    MARK_BOOK,
    REQUEST_NOW,
    SETTINGS,
    STATS,
)
from services.bybit_sim.risk_limits import risk_tiers

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


def _perpetual_category(request: web.Request, default: str | None) -> str:
    category = _category(request, default)
    if category == "spot":
        raise ParamError("Illegal category")
    return category


def _listed(request: web.Request, category: str, *, required: bool = True) -> Instrument | None:
    symbol = request.query.get("symbol", "")
    if not symbol:
        if required:
            raise ParamError("params error: symbol is required")
        return None
    inst = request.app[BOOK].instrument(category, symbol)
    if inst is None:
        raise ParamError("Not supported symbols")
    return inst


def _limit(request: web.Request, default: int, most: int) -> int:
    limit = _int_param(request, "limit")
    limit = default if limit is None else limit
    if not 1 <= limit <= most:
        raise ParamError(f"params error: limit must be in [1, {most}]")
    return limit


def _candle_rows(request: web.Request, book: CandleBook, category: str, width: int) -> web.Response:
    """/kline and /mark-price-kline: the same parameters, paging and errors."""
    now = _now(request)
    try:
        inst = _listed(request, category)
        assert inst is not None
        interval = request.query.get("interval", "")
        if interval not in INTERVALS:
            raise ParamError("Invalid period!")
        limit = _limit(request, 200, 1000)
        start, end = _int_param(request, "start"), _int_param(request, "end")
    except ParamError as exc:
        return envelope(now, {}, 10001, str(exc))
    rows: list[list[str]] = []
    if start is None or end is None or start <= end:
        rows = book.kline_rows(category, inst.symbol, interval, start, end, limit, now)
    listed = [row[:width] for row in rows]
    return envelope(now, {"category": category, "symbol": inst.symbol, "list": listed})


async def kline(request: web.Request) -> web.Response:
    try:
        category = _category(request, "linear")
    except ParamError as exc:
        return envelope(_now(request), {}, 10001, str(exc))
    return _candle_rows(request, request.app[BOOK], category, 7)


async def mark_price_kline(request: web.Request) -> web.Response:
    """[startTime, open, high, low, close] of the mark price; no volume."""
    try:
        category = _perpetual_category(request, "linear")
    except ParamError as exc:
        return envelope(_now(request), {}, 10001, str(exc))
    return _candle_rows(request, request.app[MARK_BOOK], category, 5)


async def funding_history(request: web.Request) -> web.Response:
    """Newest first; only startTime is an error, so history is paged backwards by endTime."""
    now = _now(request)
    try:
        category = _perpetual_category(request, None)  # required
        inst = _listed(request, category)
        assert inst is not None
        limit = _limit(request, 200, 200)
        start, end = _int_param(request, "startTime"), _int_param(request, "endTime")
        if start is not None and end is None:
            raise ParamError("params error: endTime is required with startTime")
    except ParamError as exc:
        return envelope(now, {}, 10001, str(exc))
    times = funding_page(inst, inst.launch_ms, now, start, end, limit)
    rates = decimal_strings(funding_rates(request.app[SETTINGS].seed, inst, times))
    listed = [
        {"symbol": inst.symbol, "fundingRate": rate, "fundingRateTimestamp": str(t)}
        for t, rate in zip(times.tolist(), rates, strict=True)
    ]
    return envelope(now, {"category": category, "list": listed})


async def risk_limit(request: web.Request) -> web.Response:
    now = _now(request)
    try:
        category = _perpetual_category(request, None)  # required
        inst = _listed(request, category, required=False)
        offset = _cursor_offset(request.query.get("cursor", ""))
    except ParamError as exc:
        return envelope(now, {}, 10001, str(exc))
    if inst is not None:
        return envelope(now, {"category": category, "list": risk_tiers(inst)})
    every = [tier for each in request.app[BOOK].instruments(category) for tier in risk_tiers(each)]
    page = every[offset : offset + _RISK_PAGE]
    more = offset + _RISK_PAGE < len(every)
    cursor = f"offset%3D{offset + _RISK_PAGE}" if more else ""
    return envelope(now, {"category": category, "list": page, "nextPageCursor": cursor})


_RISK_PAGE = 100


async def instruments_info(request: web.Request) -> web.Response:
    now = _now(request)
    try:
        category = _category(request, None)
        limit = _limit(request, 500, 1000)
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
    app.router.add_get("/v5/market/mark-price-kline", mark_price_kline)
    app.router.add_get("/v5/market/funding/history", funding_history)
    app.router.add_get("/v5/market/risk-limit", risk_limit)
    app.router.add_get("/v5/market/instruments-info", instruments_info)
    app.router.add_get("/v5/market/time", server_time)
