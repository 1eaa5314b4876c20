"""Loading what a perpetual's backtest needs beside its candles (engine side, asyncpg)."""

from domain.market.candles import Candles
from domain.market.intervals import close_time, from_epoch_ms
from domain.market.perp_market import PerpMarket, perp_market
from shared import market_data
from shared.backtest_spec import BacktestSpec
from shared.db import DbConnection


async def load_perp_market(
    conn: DbConnection, spec: BacktestSpec, candles: Candles
) -> PerpMarket | None:
    """The stored mark-price candles and fundings over the loaded `candles`, aligned to them;
    None for spot or no candles."""
    if spec.category == "spot" or len(candles) == 0:
        return None
    first = from_epoch_ms(int(candles.open_time[0]))
    last = from_epoch_ms(int(candles.open_time[-1]))
    mark = await market_data.load_candles(
        conn, spec.category, spec.symbol, spec.interval, first, last, price="mark"
    )
    # Fundings inside the last bar count. Loaded whether or not this request books them, so
    # the market is a function of the bars alone (an optimizer's pool caches it by range).
    end = from_epoch_ms(close_time(int(candles.open_time[-1]), spec.interval) - 1)
    fundings = await market_data.load_fundings(conn, spec.category, spec.symbol, first, end)
    return perp_market(candles, spec.interval, mark, fundings.time, fundings.rate)
