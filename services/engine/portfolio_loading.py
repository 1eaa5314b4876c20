"""Loading a portfolio's symbols (engine side, asyncpg): every symbol's warmed candles in one
query and, for a perpetual, each one's market, as a one-symbol backtest loads them."""

import numpy as np

from domain.portfolio_backtest import SymbolSeries
from services.engine.perp_market_loading import load_perp_market
from shared import market_data
from shared.backtest_spec import BacktestSpec
from shared.db import DbConnection
from shared.jobs import JobRejected


async def load_portfolio_series(
    conn: DbConnection, spec: BacktestSpec, warmup_asked: int
) -> list[SymbolSeries]:
    """Every symbol of `spec` with `warmup_asked` stored bars before the start (fewer where
    there are not as many); JobRejected when no symbol has a candle in the range."""
    symbols = spec.symbols or []
    loaded = await market_data.load_many_candles_warmed(
        conn, spec.category, symbols, spec.interval, spec.start, spec.end, warmup_asked
    )
    series = []
    for symbol, candles in loaded.items():
        market = await load_perp_market(conn, spec.model_copy(update={"symbol": symbol}), candles)
        warmup = int(np.searchsorted(candles.open_time, spec.start_ms))
        series.append(SymbolSeries(symbol, candles, warmup, market))
    if all(len(one.candles) == one.trade_from for one in series):
        raise JobRejected("no stored candles in the range")
    return series
