"""Candles stored for a benchmark, and backtest requests over them."""

from typing import Any

import asyncpg

from domain.market.candles import Candles
from domain.market.intervals import iso_utc
from services.ingest.kline_store import Series, upsert_candles


async def store_candles(dsn: str, series: Series, candles: Candles) -> None:
    """The candles into `klines` in one transaction, as the ingest writes them."""
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await upsert_candles(conn, series, candles)
    finally:
        await conn.close()


def backtest_request(
    series: Series, candles: Candles, *, fast: int = 10, slow: int = 30
) -> dict[str, Any]:
    """A POST /api/v1/backtests body: sma_cross over all of the stored candles (candles only:
    no funding is stored, so none is asked for)."""
    return {
        "category": series.category,
        "symbol": series.symbol,
        "interval": series.interval,
        "start": iso_utc(int(candles.open_time[0])),
        "end": iso_utc(int(candles.open_time[-1])),
        "strategy": {"name": "sma_cross", "params": {"fast": fast, "slow": slow}},
        "funding": False,
    }
