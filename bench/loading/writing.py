"""What the packed blocks cost the writes: a series stored as the ingest stores it (pages of
1,000 candles, 10 pages per transaction) with the block triggers on, and with them disabled,
alternating on fresh series of a scratch database; best of a few runs each."""

import asyncio
import gc
import time
from dataclasses import dataclass

import numpy as np

from bench.support.scratch import scratch_database
from bench.support.synthetic import random_walk
from services.ingest.kline_store import Series, store
from shared.db import DbConnection, create_pool
from shared.settings import Settings

BENCH_DATABASE = "bench_loading_writes"
PAGE = 1_000
PAGES_PER_COMMIT = 10


@dataclass(frozen=True)
class WriteTiming:
    candles: int
    seconds: float  # with the triggers that keep the blocks
    bare_seconds: float  # the same writes with them disabled

    @property
    def candles_per_second(self) -> int:
        return round(self.candles / self.seconds)

    @property
    def bare_candles_per_second(self) -> int:
        return round(self.candles / self.bare_seconds)


async def _store_in_pages(conn: DbConnection, symbol: str, bars: int) -> float:
    walk = random_walk(bars)
    gc.collect()
    started = time.perf_counter()
    per_commit = PAGE * PAGES_PER_COMMIT
    for first in range(0, bars, per_commit):
        async with conn.transaction():
            for page in range(first, min(first + per_commit, bars), PAGE):
                rows = np.arange(page, min(page + PAGE, bars))
                await store(conn, Series("linear", symbol, "1"), walk.select(rows), [], [])
    return time.perf_counter() - started


async def _measure(bars: int, repeats: int) -> WriteTiming:
    seconds, bare_seconds = float("inf"), float("inf")
    async with scratch_database(Settings().database_url, BENCH_DATABASE) as dsn:
        pool = await create_pool(dsn, max_size=1)
        try:
            async with pool.acquire() as conn:
                for run in range(max(repeats, 1)):
                    await conn.execute("ALTER TABLE klines ENABLE TRIGGER USER")
                    seconds = min(seconds, await _store_in_pages(conn, f"K{run}USDT", bars))
                    await conn.execute("ALTER TABLE klines DISABLE TRIGGER USER")
                    bare = await _store_in_pages(conn, f"B{run}USDT", bars)
                    bare_seconds = min(bare_seconds, bare)
        finally:
            await pool.close()
    return WriteTiming(bars, seconds, bare_seconds)


def write_timing(bars: int, repeats: int) -> WriteTiming:
    return asyncio.run(_measure(bars, repeats))
