"""Putting candles in the database for tests that read them."""

import asyncpg
import numpy as np

from services.ingest.kline_store import Series, store
from shared.candles import Candles
from shared.intervals import interval_ms


def random_walk(start_ms: int, n: int, interval: str, seed: int = 7) -> Candles:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.concatenate([[100.0], close[:-1]])
    high = np.maximum(open_, close) * 1.002
    low = np.minimum(open_, close) * 0.998
    volume = rng.uniform(1, 10, n)
    times = start_ms + interval_ms(interval) * np.arange(n, dtype=np.int64)
    return Candles(times, open_, high, low, close, volume, volume * close)


async def insert_candles(
    pool: asyncpg.Pool, category: str, symbol: str, interval: str, candles: Candles
) -> None:
    async with pool.acquire() as conn:
        await store(conn, Series(category, symbol, interval), candles, [], [])
