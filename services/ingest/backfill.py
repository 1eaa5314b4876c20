"""Running one backfill: pages fetched several at a time, written in order, in batches that
commit the candles, their gaps, the raw pages and the cursor together.

Perpetuals also get, with the same cursor, the mark-price candles of each window; then their
funding history, paged backwards from the end with a cursor of its own; and first, the
instrument's funding interval, leverage filter and risk tiers.
"""

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from dataclasses import dataclass

import asyncpg

from domain.market.candles import Candles
from domain.market.intervals import add_intervals
from services.ingest import backfill_progress
from services.ingest.backfill_progress import ClaimedBackfill
from services.ingest.bybit_rest import BybitRestClient, KlinePage
from services.ingest.kline_pages import gaps_in_fetched, page_windows
from services.ingest.kline_store import KLINES, Series, store
from services.ingest.perpetual_store import store_fundings, store_limits
from shared.db import DbConnection

log = logging.getLogger(__name__)

Window = tuple[int, int]


@dataclass(frozen=True)
class FetchedPage:
    window: Window
    pages: tuple[KlinePage, ...]  # one per candle table of the job, in its order


async def fetch_in_order(
    windows: Iterable[Window],
    fetch: Callable[[Window], Awaitable[tuple[KlinePage, ...]]],
    in_flight: int,
) -> AsyncGenerator[FetchedPage, None]:
    """Yield pages in window order while up to `in_flight` windows are fetched ahead."""
    remaining = iter(windows)
    pending: deque[tuple[Window, asyncio.Task[tuple[KlinePage, ...]]]] = deque()

    def start_next() -> None:
        window = next(remaining, None)
        if window is not None:
            pending.append((window, asyncio.ensure_future(fetch(window))))

    for _ in range(in_flight):
        start_next()
    try:
        while pending:
            window, task = pending.popleft()
            page = await task
            start_next()
            yield FetchedPage(window, page)
    finally:
        for _, task in pending:
            task.cancel()
        await asyncio.gather(*(task for _, task in pending), return_exceptions=True)


async def write_batch(
    conn: DbConnection, job: ClaimedBackfill, batch: list[FetchedPage], cursor_ms: int
) -> tuple[int, int]:
    """Commit a batch of consecutive pages; returns (rows written, the new cursor)."""
    interval = job.series.interval
    first, last = batch[0].window[0], batch[-1].window[1]
    new_cursor = add_intervals(last, interval, 1)
    rows = 0
    async with conn.transaction():
        await backfill_progress.ensure_running(conn, job.id)
        for i, table in enumerate(job.candle_tables):
            pages = [item.pages[i] for item in batch]
            candles = Candles.concat([page.candles for page in pages])
            server_ms = max(page.server_ms for page in pages)
            gaps = gaps_in_fetched(candles, first, last, interval, server_ms)
            raw = [page.raw for page in pages]
            written = await store(conn, job.series, candles, gaps, raw, job.id, table)
            rows += written if table is KLINES else 0  # `rows` counts candles
        pages_done = len(batch) * len(job.candle_tables)
        await backfill_progress.advance(conn, job.id, cursor_ms, new_cursor, rows, pages_done)
    return rows, new_cursor


async def run_backfill(
    pool: asyncpg.Pool,
    client: BybitRestClient,
    job: ClaimedBackfill,
    *,
    pages_in_flight: int,
    pages_per_commit: int,
    stopping: asyncio.Event,
) -> bool:
    """Fetch and store everything the job includes: a perpetual's limits first, then candles
    (and mark-price candles) from the cursor to the end, then fundings. Returns False if
    stopped early."""
    if job.perpetual:
        limits = await client.perpetual_limits(job.series.category, job.series.symbol)
        async with pool.acquire() as conn, conn.transaction():
            await backfill_progress.ensure_running(conn, job.id)
            await store_limits(conn, job.series, limits, job.id)
            await backfill_progress.plan_pages(conn, job, limits.instrument.funding_interval)
    series: Series = job.series
    windows = page_windows(job.cursor_ms, job.end_ms, series.interval)

    async def fetch(window: Window) -> tuple[KlinePage, ...]:
        return tuple(
            [
                await client.kline_page(
                    series.category, series.symbol, series.interval, *window, table
                )
                for table in job.candle_tables
            ]
        )

    cursor = job.cursor_ms
    batch: list[FetchedPage] = []
    # aclosing: leaving early (cancelled, stopping) cancels the requests running ahead at once.
    pages = contextlib.aclosing(fetch_in_order(windows, fetch, pages_in_flight))
    async with pool.acquire() as conn, pages as fetched_pages:
        async for fetched in fetched_pages:
            batch.append(fetched)
            if len(batch) >= pages_per_commit or stopping.is_set():
                _, cursor = await write_batch(conn, job, batch, cursor)
                batch = []
                if stopping.is_set():
                    log.info("backfill paused for shutdown", extra={"backfill_id": str(job.id)})
                    return False
        if batch:
            await write_batch(conn, job, batch, cursor)
    return await fetch_funding(pool, client, job, stopping)


async def fetch_funding(
    pool: asyncpg.Pool, client: BybitRestClient, job: ClaimedBackfill, stopping: asyncio.Event
) -> bool:
    """Walk the funding history back from the job's funding cursor to its start, one page per
    commit; the last page is the first that is not full. Returns False if stopped early."""
    if not job.funding_pending:
        return True
    assert job.funding_cursor_ms is not None
    cursor = job.funding_cursor_ms
    series = job.series
    async with pool.acquire() as conn:
        while cursor >= job.start_ms:
            if stopping.is_set():
                log.info("backfill paused for shutdown", extra={"backfill_id": str(job.id)})
                return False
            page = await client.funding_page(series.category, series.symbol, job.start_ms, cursor)
            older = page.oldest_ms - 1 if page.full and page.oldest_ms is not None else None
            next_cursor = job.start_ms - 1 if older is None else min(older, cursor - 1)
            async with conn.transaction():
                await backfill_progress.ensure_running(conn, job.id)
                await store_fundings(conn, series, page.fundings, [page.raw], job.id)
                await backfill_progress.advance_funding(conn, job.id, cursor, next_cursor, 1)
            cursor = next_cursor
    return True
