"""Loading a backtest's `fill_detail` candles beside its bars (engine side, asyncpg)."""

from domain.execution.fill_detail import FillDetail
from domain.market.candles import Candles
from domain.market.intervals import close_time, from_epoch_ms
from shared import market_data
from shared.backtest_spec import BacktestSpec
from shared.db import DbConnection


async def load_fill_detail(
    conn: DbConnection, spec: BacktestSpec, candles: Candles
) -> FillDetail | None:
    """The stored detail candles (and, for perpetuals, their mark-price candles) inside the
    traded bars of `candles` (those from `start` on); None without `fill_detail`."""
    if spec.fill_detail is None:
        return None
    traded = candles.open_time[candles.open_time >= spec.start_ms]
    if traded.size == 0:
        return FillDetail(spec.fill_detail, Candles.empty())
    first = from_epoch_ms(int(traded[0]))
    last = from_epoch_ms(close_time(int(traded[-1]), spec.interval) - 1)
    args = (conn, spec.category, spec.symbol, spec.fill_detail, first, last)
    detail = await market_data.load_candles(*args)
    mark = None if spec.category == "spot" else await market_data.load_candles(*args, price="mark")
    return FillDetail(spec.fill_detail, detail, mark if mark is not None and len(mark) else None)


__all__ = ["load_fill_detail"]
