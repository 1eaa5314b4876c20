"""Live klines over Bybit's public WebSocket: one connection per category, only confirmed
candles stored, and after every (re)connect the candles missed meanwhile fetched over REST.
"""

import asyncio
import itertools
import logging
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import asyncpg
import orjson

from domain.market.intervals import add_intervals
from services.ingest.bybit_rest import BybitRestClient
from services.ingest.kline_pages import gaps_in_fetched, page_windows, parse_kline_rows
from services.ingest.kline_store import RawPage, Series, last_open_time, store
from shared.streams import StreamSpec

log = logging.getLogger(__name__)

PING_SECONDS = 20.0
# Spot accepts at most 10 topics per subscribe request; the same batches suit every category.
_TOPICS_PER_REQUEST = 10
_MAX_RECONNECT_SECONDS = 30.0


class LiveStreams:
    def __init__(
        self,
        specs: list[StreamSpec],
        ws_base_url: str,
        session: aiohttp.ClientSession,
        pool: asyncpg.Pool,
        client: BybitRestClient,
    ) -> None:
        self._specs = specs
        self._ws_base_url = ws_base_url.rstrip("/")
        self._session = session
        self._pool = pool
        self._client = client
        self._req_ids = itertools.count(1)

    async def run(self) -> None:
        """Run every category's connection until cancelled."""
        categories = sorted({spec.category for spec in self._specs})
        async with asyncio.TaskGroup() as group:
            for category in categories:
                specs = [s for s in self._specs if s.category == category]
                group.create_task(self._run_category(category, specs))

    async def _run_category(self, category: str, specs: list[StreamSpec]) -> None:
        failures = 0
        while True:
            try:
                await self._connection(category, specs)
                failures = 0
            except (aiohttp.ClientError, TimeoutError, ConnectionError) as exc:
                failures += 1
                log.warning(
                    "kline stream disconnected", extra={"category": category, "error": str(exc)}
                )
            # Backoff with jitter: never a tight reconnect loop (500 connections per 5 min limit).
            delay = min(_MAX_RECONNECT_SECONDS, 0.5 * 2 ** min(failures, 6))
            await asyncio.sleep(random.uniform(delay / 2, delay))

    async def _connection(self, category: str, specs: list[StreamSpec]) -> None:
        by_topic = {spec.topic: spec for spec in specs}
        async with self._session.ws_connect(f"{self._ws_base_url}/{category}") as ws:
            for batch in _batches(list(by_topic), _TOPICS_PER_REQUEST):
                await ws.send_json(
                    {"req_id": str(next(self._req_ids)), "op": "subscribe", "args": batch}
                )
            log.info(
                "kline stream connected", extra={"category": category, "topics": list(by_topic)}
            )
            async with asyncio.TaskGroup() as group:
                pinger = group.create_task(self._ping(ws))
                repair = group.create_task(self._repair_all(specs))
                try:
                    await self._receive(ws, by_topic)
                finally:
                    pinger.cancel()
                    repair.cancel()
        raise ConnectionError("socket closed by the server")

    async def _ping(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        while True:
            await asyncio.sleep(PING_SECONDS)
            await ws.send_json({"req_id": str(next(self._req_ids)), "op": "ping"})

    async def _receive(
        self, ws: aiohttp.ClientWebSocketResponse, by_topic: dict[str, StreamSpec]
    ) -> None:
        async for frame in ws:
            if frame.type != aiohttp.WSMsgType.TEXT:
                break
            message = orjson.loads(frame.data)
            if message.get("op") == "subscribe" and not message.get("success"):
                log.error("subscription refused", extra={"ret_msg": message.get("ret_msg")})
            spec = by_topic.get(message.get("topic", ""))
            if spec is not None:
                await self._store_confirmed(spec, message, frame.data)

    async def _store_confirmed(self, spec: StreamSpec, message: dict[str, Any], raw: str) -> None:
        confirmed = [k for k in message.get("data", []) if k.get("confirm")]
        if not confirmed:
            return
        rows = [
            [k["start"], k["open"], k["high"], k["low"], k["close"], k["volume"], k["turnover"]]
            for k in confirmed
        ]
        opens = [int(k["start"]) for k in confirmed]
        candles = parse_kline_rows(rows, min(opens), max(opens), spec.interval, int(message["ts"]))
        series = Series(spec.category, spec.symbol, spec.interval)
        page = RawPage("ws", spec.topic, raw, datetime.now(UTC))
        async with self._pool.acquire() as conn:
            await store(conn, series, candles, [], [page])

    async def _repair_all(self, specs: list[StreamSpec]) -> None:
        for spec in specs:
            await self.repair(spec)

    async def repair(self, spec: StreamSpec) -> int:
        """Fetch over REST every closed candle after the newest stored one; returns rows."""
        series = Series(spec.category, spec.symbol, spec.interval)
        newest = await last_open_time(self._pool, series)
        if newest is None:
            return 0  # nothing stored yet: the stream starts the series, history is a backfill
        first = add_intervals(newest, spec.interval, 1)
        now_ms = await self._client.server_time_ms()
        rows = 0
        for window in page_windows(first, now_ms, spec.interval):
            page = await self._client.kline_page(spec.category, spec.symbol, spec.interval, *window)
            gaps = gaps_in_fetched(page.candles, *window, spec.interval, page.server_ms)
            async with self._pool.acquire() as conn:
                rows += await store(conn, series, page.candles, gaps, [page.raw])
        if rows:
            log.info("stream gap repaired", extra={"topic": spec.topic, "rows": rows})
        return rows


def _batches(items: list[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
