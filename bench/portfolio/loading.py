"""Loading a portfolio's candles as the engine does (one warmed query per symbol on one
connection, decoded into numpy) from a scratch database: candles per second."""

import asyncio
import time

from bench.support.scratch import scratch_database
from bench.support.synthetic import START_MS, random_walk
from domain.market.intervals import from_epoch_ms, interval_ms
from services.ingest.kline_store import Series, store
from shared import market_data
from shared.db import create_pool
from shared.settings import Settings

BENCH_DATABASE = "bench_portfolio"


async def _load_rate(symbols: int, bars: int, warmup: int, repeats: int) -> tuple[int, float]:
    base = Settings()
    async with scratch_database(base.database_url, BENCH_DATABASE) as dsn:
        pool = await create_pool(dsn, max_size=1)
        try:
            conn = await pool.acquire()
            names = [f"S{i:02d}USDT" for i in range(symbols)]
            for i, name in enumerate(names):
                walk = random_walk(bars + warmup, minutes_per_bar=60, seed=100 + i)
                await store(conn, Series("linear", name, "60"), walk, [], [])
            start = from_epoch_ms(START_MS + warmup * interval_ms("60"))
            end = from_epoch_ms(START_MS + (bars + warmup - 1) * interval_ms("60"))
            best = float("inf")
            loaded = 0
            for _ in range(max(repeats, 1)):
                began = time.perf_counter()
                loaded = 0
                for name in names:
                    candles = await market_data.load_candles_warmed(
                        conn, "linear", name, "60", start, end, warmup
                    )
                    loaded += len(candles)
                best = min(best, time.perf_counter() - began)
            await pool.release(conn)
        finally:
            await pool.close()
    return loaded, best


def load_rate(symbols: int, bars: int, warmup: int, repeats: int = 3) -> tuple[int, float]:
    """(candles loaded, best seconds) for every symbol's warmed range."""
    return asyncio.run(_load_rate(symbols, bars, warmup, repeats))
