"""Putting candles in the database for tests that read them."""

from typing import Any

import asyncpg
import numpy as np

from domain.market.candles import Candles
from domain.market.intervals import interval_ms
from services.ingest.kline_store import Series, store
from services.ingest.perpetual_pages import Fundings
from services.ingest.perpetual_store import store_fundings

FUNDING_INTERVAL_MS = 8 * 3_600_000

T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
# A backtest over the first days of hourly BTCUSDT candles inserted from T0.
BACKTEST_REQUEST: dict[str, Any] = {
    "category": "linear",
    "symbol": "BTCUSDT",
    "interval": "60",
    "start": "2024-01-01T00:00:00Z",
    "end": "2024-01-10T00:00:00Z",
    "strategy": {"name": "sma_cross", "params": {"fast": 5, "slow": 20}},
}


def random_walk(start_ms: int, n: int, interval: str, seed: int = 7) -> Candles:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.concatenate([[100.0], close[:-1]])
    high = np.maximum(open_, close) * 1.002
    low = np.minimum(open_, close) * 0.998
    volume = rng.uniform(1, 10, n)
    times = start_ms + interval_ms(interval) * np.arange(n, dtype=np.int64)
    return Candles(times, open_, high, low, close, volume, volume * close)


def zero_fundings(candles: Candles) -> Fundings:
    """A funding every 8 h over the candles, at rate 0: a perpetual's history that books
    nothing (a backtest's default `funding: true` needs one stored)."""
    first = -(-int(candles.open_time[0]) // FUNDING_INTERVAL_MS) * FUNDING_INTERVAL_MS
    times = np.arange(first, int(candles.open_time[-1]) + 1, FUNDING_INTERVAL_MS, dtype=np.int64)
    return Fundings(times, np.zeros(times.size))


async def insert_candles(
    pool: asyncpg.Pool,
    category: str,
    symbol: str,
    interval: str,
    candles: Candles,
    fundings: bool = True,
) -> None:
    """The candles; for linear and inverse also a zero-rate funding history unless told not."""
    series = Series(category, symbol, interval)
    async with pool.acquire() as conn:
        await store(conn, series, candles, [], [])
        if fundings and category != "spot" and len(candles):
            await store_fundings(conn, series, zero_fundings(candles), [])


async def insert_hourly(pool: asyncpg.Pool) -> None:
    """The 500 hourly candles from T0 that BACKTEST_REQUEST runs on."""
    await insert_candles(pool, "linear", "BTCUSDT", "60", random_walk(T0, 500, "60"))
