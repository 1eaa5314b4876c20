"""Loading candles from PostgreSQL as the engine does (packed blocks, one query) against the
row-by-row COPY it replaced, in the same run, from a scratch database: candles per second.

Both loaders are checked to return the same arrays before they are timed; each timed run
alternates them, so a busy machine slows both alike.
"""

import asyncio
import gc
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np

from bench.loading.row_copy import load_candles_warmed_by_rows
from bench.support.scratch import scratch_database
from bench.support.synthetic import START_MS, random_walk
from domain.market.candles import PRICE_FIELDS, Candles
from domain.market.intervals import from_epoch_ms, interval_ms
from services.ingest.kline_store import Series, store
from shared import market_data
from shared.db import create_pool
from shared.settings import Settings

BENCH_DATABASE = "bench_loading"


@dataclass(frozen=True)
class LoadTiming:
    symbols: int
    candles: int  # loaded per run, warm-up included
    seconds: float  # best run of the engine's loader
    rows_seconds: float  # best run of the row-by-row COPY

    @property
    def candles_per_second(self) -> int:
        return round(self.candles / self.seconds)

    @property
    def rows_candles_per_second(self) -> int:
        return round(self.candles / self.rows_seconds)


async def _seconds(load: Callable[[], Awaitable[object]]) -> float:
    gc.collect()
    started = time.perf_counter()
    await load()
    return time.perf_counter() - started


def _same(a: Candles, b: Candles) -> bool:
    return all(
        np.array_equal(getattr(a, name), getattr(b, name)) for name in ("open_time", *PRICE_FIELDS)
    )


async def _measure(symbols: int, interval: str, bars: int, warmup: int, repeats: int) -> LoadTiming:
    async with scratch_database(Settings().database_url, BENCH_DATABASE) as dsn:
        pool = await create_pool(dsn, max_size=1)
        try:
            async with pool.acquire() as conn:
                minutes = interval_ms(interval) // 60_000
                names = [f"S{i:02d}USDT" for i in range(symbols)]
                for i, name in enumerate(names):
                    walk = random_walk(bars + warmup, minutes_per_bar=minutes, seed=100 + i)
                    await store(conn, Series("linear", name, interval), walk, [], [])
                start = from_epoch_ms(START_MS + warmup * interval_ms(interval))
                end = from_epoch_ms(START_MS + (bars + warmup - 1) * interval_ms(interval))

                async def engine() -> dict[str, Candles]:
                    if len(names) == 1:  # a one-symbol backtest's call
                        one = await market_data.load_candles_warmed(
                            conn, "linear", names[0], interval, start, end, warmup
                        )
                        return {names[0]: one}
                    return await market_data.load_many_candles_warmed(
                        conn, "linear", names, interval, start, end, warmup
                    )

                async def by_rows() -> dict[str, Candles]:
                    return {
                        name: await load_candles_warmed_by_rows(
                            conn, "linear", name, interval, start, end, warmup
                        )
                        for name in names
                    }

                loaded, expected = await engine(), await by_rows()
                if list(loaded) != names or not all(_same(loaded[n], expected[n]) for n in names):
                    raise AssertionError("the loaders disagree")
                seconds, rows_seconds = float("inf"), float("inf")
                for _ in range(max(repeats, 1)):
                    seconds = min(seconds, await _seconds(engine))
                    rows_seconds = min(rows_seconds, await _seconds(by_rows))
        finally:
            await pool.close()
    return LoadTiming(symbols, sum(len(c) for c in loaded.values()), seconds, rows_seconds)


def load_timing(symbols: int, interval: str, bars: int, warmup: int, repeats: int) -> LoadTiming:
    """Every symbol's `bars` after `warmup`, stored then loaded (best of `repeats`)."""
    return asyncio.run(_measure(symbols, interval, bars, warmup, repeats))
