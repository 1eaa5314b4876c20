"""Loading what a perpetual's backtest needs beside its candles (engine side, asyncpg)."""

from domain.market.candles import Candles
from domain.market.intervals import close_time, from_epoch_ms
from domain.market.perp_market import PerpMarket, perp_market
from shared import market_data
from shared.backtest_spec import BacktestSpec
from shared.db import DbConnection

# Bybit funds perpetuals every 1, 2, 4 or 8 hours.
LONGEST_FUNDING_INTERVAL_MS = 8 * 3_600_000


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
    # Fundings inside the last bar count, and those up to its end and a funding interval
    # before the first bar are the rates in force that rules read (`funding_rate`); only the
    # ones inside the bars are booked. Loaded whether or not this request books them, so
    # the market is a function of the bars alone (an optimizer's pool caches it by range).
    since = from_epoch_ms(int(candles.open_time[0]) - LONGEST_FUNDING_INTERVAL_MS)
    end = from_epoch_ms(close_time(int(candles.open_time[-1]), spec.interval))
    fundings = await market_data.load_fundings(conn, spec.category, spec.symbol, since, end)
    return perp_market(candles, spec.interval, mark, fundings.time, fundings.rate)
