"""Running one backfill: pages fetched several at a time, written in order, in batches that
commit the candles, their gaps, the raw pages and the cursor together.
"""

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from dataclasses import dataclass

import asyncpg

from services.ingest import backfill_progress
from services.ingest.backfill_progress import ClaimedBackfill
from services.ingest.bybit_rest import BybitRestClient, KlinePage
from services.ingest.kline_pages import gaps_in_fetched, page_windows
from services.ingest.kline_store import Series, store
from shared.candles import Candles
from shared.db import DbConnection
from shared.intervals import add_intervals

log = logging.getLogger(__name__)

Window = tuple[int, int]


@dataclass(frozen=True)
class FetchedPage:
    window: Window
    page: KlinePage


async def fetch_in_order(
    windows: Iterable[Window],
    fetch: Callable[[Window], Awaitable[KlinePage]],
    in_flight: int,
) -> AsyncGenerator[FetchedPage, None]:
    """Yield pages in window order while up to `in_flight` requests run ahead."""
    remaining = iter(windows)
    pending: deque[tuple[Window, asyncio.Task[KlinePage]]] = deque()

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
    candles = Candles.concat([item.page.candles for item in batch])
    server_ms = max(item.page.server_ms for item in batch)
    gaps = gaps_in_fetched(candles, first, last, interval, server_ms)
    new_cursor = add_intervals(last, interval, 1)
    async with conn.transaction():
        await backfill_progress.ensure_running(conn, job.id)
        rows = await store(
            conn, job.series, candles, gaps, [item.page.raw for item in batch], job.id
        )
        await backfill_progress.advance(conn, job.id, cursor_ms, new_cursor, rows, len(batch))
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
    """Fetch and store from the job's cursor to its end. Returns False if stopped early."""
    series: Series = job.series
    windows = page_windows(job.cursor_ms, job.end_ms, series.interval)

    def fetch(window: Window) -> Awaitable[KlinePage]:
        return client.kline_page(series.category, series.symbol, series.interval, *window)

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
    return True
