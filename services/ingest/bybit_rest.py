"""Bybit V5 public REST: paced requests, retries that respect the exchange, parsed answers."""

import asyncio
import logging
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import orjson
from yarl import URL

from domain.market.candles import Candles
from services.ingest.kline_pages import PAGE_LIMIT, parse_kline_rows
from services.ingest.kline_store import KLINES, MARK_PRICE_KLINES, CandleTable, RawPage
from services.ingest.perpetual_pages import (
    FUNDING_PAGE_LIMIT,
    Fundings,
    InstrumentLimits,
    RiskTier,
    parse_funding_rows,
    parse_instrument,
    parse_risk_tiers,
)
from services.ingest.request_pacing import RequestPacer

log = logging.getLogger(__name__)

_TOO_MANY_VISITS = 10006
_TRANSIENT_CODES = {10000, 10016, _TOO_MANY_VISITS}
_MAX_BACKOFF_SECONDS = 10.0


class BybitRejected(Exception):
    """Bybit refused the request itself (bad symbol, bad parameter): retrying cannot help."""

    def __init__(self, ret_code: int, ret_msg: str) -> None:
        super().__init__(f"Bybit retCode {ret_code}: {ret_msg}")
        self.ret_code = ret_code
        self.ret_msg = ret_msg


class BybitUnavailable(Exception):
    """Bybit kept failing (5xx, timeouts, dropped connections) beyond the retry budget."""


@dataclass(frozen=True)
class KlinePage:
    candles: Candles
    server_ms: int
    raw: RawPage


@dataclass(frozen=True)
class FundingPage:
    fundings: Fundings  # the page's fundings in the range asked for, oldest first
    oldest_ms: int | None  # of every row on the page, to page on backwards
    full: bool  # as many rows as asked for: older ones may remain
    raw: RawPage


@dataclass(frozen=True)
class PerpetualLimits:
    instrument: InstrumentLimits
    tiers: list[RiskTier]
    raw: list[RawPage]


_CANDLE_PATHS = {
    KLINES.feed: "/v5/market/kline",
    MARK_PRICE_KLINES.feed: "/v5/market/mark-price-kline",
}


class _Retry(Exception):
    def __init__(self, reason: str, wait: float | None = None) -> None:
        super().__init__(reason)
        self.wait = wait


class BybitRestClient:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        pacer: RequestPacer,
        *,
        max_retries: int = 8,
        ban_pause_seconds: float = 600.0,
    ) -> None:
        self._session = session
        self._base_url = URL(base_url)
        self._pacer = pacer
        self._max_retries = max_retries
        self._ban_pause_seconds = ban_pause_seconds

    async def kline_page(
        self,
        category: str,
        symbol: str,
        interval: str,
        start_ms: int,
        end_ms: int,
        table: CandleTable = KLINES,
    ) -> KlinePage:
        """Closed candles with open time in [start_ms, end_ms] (at most PAGE_LIMIT of them),
        from /kline or, for MARK_PRICE_KLINES, /mark-price-kline."""
        path = _CANDLE_PATHS[table.feed]
        params = {
            "category": category,
            "symbol": symbol,
            "interval": interval,
            "start": str(start_ms),
            "end": str(end_ms),
            "limit": str(PAGE_LIMIT),
        }
        body, envelope = await self._get(path, params)
        server_ms = _server_ms(envelope)
        rows = envelope["result"].get("list") or []
        width = 1 + len(table.fields)  # startTime, then the table's fields
        candles = parse_kline_rows(rows, start_ms, end_ms, interval, server_ms, width)
        return KlinePage(candles, server_ms, _raw_page(path, params, body, table.feed))

    async def funding_page(
        self, category: str, symbol: str, start_ms: int, end_ms: int
    ) -> FundingPage:
        """The newest fundings in [start_ms, end_ms]; older ones come with an earlier end."""
        path = "/v5/market/funding/history"
        params = {
            "category": category,
            "symbol": symbol,
            "startTime": str(start_ms),
            "endTime": str(end_ms),
            "limit": str(FUNDING_PAGE_LIMIT),
        }
        body, envelope = await self._get(path, params)
        rows = envelope["result"].get("list") or []
        times = [int(row["fundingRateTimestamp"]) for row in rows]
        return FundingPage(
            parse_funding_rows(rows, start_ms, end_ms),
            min(times) if times else None,
            len(rows) >= FUNDING_PAGE_LIMIT,
            _raw_page(path, params, body, "funding"),
        )

    async def perpetual_limits(self, category: str, symbol: str) -> PerpetualLimits:
        """The instrument's funding interval and leverage filter, and its risk-limit tiers."""
        params = {"category": category, "symbol": symbol}
        info_path, tiers_path = "/v5/market/instruments-info", "/v5/market/risk-limit"
        info_body, info = await self._get(info_path, params)
        entries = [e for e in info["result"].get("list") or [] if e.get("symbol") == symbol]
        if not entries:
            raise BybitRejected(
                10001, f"Not supported symbols ({symbol} is not in instruments-info)"
            )
        tiers_body, tiers = await self._get(tiers_path, params)
        return PerpetualLimits(
            parse_instrument(entries[0]),
            parse_risk_tiers(tiers["result"].get("list") or [], symbol),
            [
                _raw_page(info_path, params, info_body, "instrument"),
                _raw_page(tiers_path, params, tiers_body, "risk_limit"),
            ],
        )

    async def server_time_ms(self) -> int:
        _, envelope = await self._get("/v5/market/time", {})
        return int(envelope["result"]["timeNano"]) // 1_000_000

    async def _get(self, path: str, params: dict[str, str]) -> tuple[str, dict[str, Any]]:
        """GET with pacing and retries; returns the raw body and the parsed envelope."""
        attempt = 0
        while True:
            await self._pacer.wait_turn()
            try:
                return await self._get_once(path, params)
            except _Retry as retry:
                attempt += 1
                if attempt > self._max_retries:
                    raise BybitUnavailable(f"{path} failed {attempt} times: {retry}") from None
                wait = retry.wait if retry.wait is not None else _backoff(attempt)
                log.warning(
                    "bybit request retried",
                    extra={"path": path, "reason": str(retry), "attempt": attempt, "wait_s": wait},
                )
                await asyncio.sleep(wait)

    async def _get_once(self, path: str, params: dict[str, str]) -> tuple[str, dict[str, Any]]:
        try:
            async with self._session.get(self._base_url.join(URL(path)), params=params) as resp:
                body = await resp.text()
                if resp.status == 403:
                    # An IP ban: every request to this host waits it out, not just this one.
                    self._pacer.pause(self._ban_pause_seconds)
                    raise _Retry("HTTP 403 (IP rate limit ban)", wait=0.0)
                if resp.status == 429 or resp.status >= 500:
                    raise _Retry(f"HTTP {resp.status}")
                if resp.status != 200:
                    raise BybitRejected(resp.status, f"HTTP {resp.status}: {body[:200]}")
                envelope = orjson.loads(body)
                ret_code = int(envelope.get("retCode", -1))
                if ret_code == _TOO_MANY_VISITS:
                    raise _Retry("retCode 10006", wait=_until_reset(resp.headers, envelope))
                if ret_code in _TRANSIENT_CODES:
                    raise _Retry(f"retCode {ret_code}: {envelope.get('retMsg')}")
                if ret_code != 0:
                    raise BybitRejected(ret_code, str(envelope.get("retMsg", "")))
                return body, envelope
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError) as exc:
            raise _Retry(f"{type(exc).__name__}: {exc}") from None
        except orjson.JSONDecodeError as exc:
            raise _Retry(f"unparsable answer: {exc}") from None


def _server_ms(envelope: dict[str, Any]) -> int:
    return int(envelope.get("time") or time.time() * 1000)


def _raw_page(path: str, params: dict[str, str], body: str, feed: str) -> RawPage:
    request = str(URL(path).with_query(params))
    return RawPage("rest", request, body, datetime.now(UTC), feed)


def _backoff(attempt: int) -> float:
    """Exponential backoff with full jitter."""
    return random.uniform(0, min(_MAX_BACKOFF_SECONDS, 0.2 * 2**attempt))


def _until_reset(headers: Any, envelope: dict[str, Any]) -> float:
    """Seconds until the limit resets, measured on the exchange's own clock."""
    try:
        reset_ms = int(headers["X-Bapi-Limit-Reset-Timestamp"])
        server_ms = int(envelope["time"])
    except (KeyError, ValueError, TypeError):
        return 1.0
    return min(max((reset_ms - server_ms) / 1000, 0.05), _MAX_BACKOFF_SECONDS)
