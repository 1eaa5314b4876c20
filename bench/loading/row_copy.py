"""The loader before packed blocks, kept to measure against in the same run: the stored rows
of a warmed range as a binary COPY (one message per candle) decoded with numpy."""

import io
from datetime import datetime

from domain.market.candles import PRICE_FIELDS, Candles
from shared import candle_copy
from shared.db import DbConnection


async def load_candles_warmed_by_rows(
    conn: DbConnection,
    category: str,
    symbol: str,
    interval: str,
    start: datetime,
    end: datetime,
    warmup: int,
) -> Candles:
    buffer = io.BytesIO()
    await conn.copy_from_query(
        f"""SELECT open_time, {", ".join(PRICE_FIELDS)} FROM klines
            WHERE category = $1 AND symbol = $2 AND interval = $3 AND open_time <= $5
              AND open_time >= coalesce(
                  (SELECT min(open_time) FROM (
                      SELECT open_time FROM klines
                      WHERE category = $1 AND symbol = $2 AND interval = $3 AND open_time < $4
                      ORDER BY open_time DESC LIMIT $6) AS warmup),
                  $4)
            ORDER BY open_time""",
        category,
        symbol,
        interval,
        start,
        end,
        warmup,
        output=buffer,
        format="binary",
    )
    return candle_copy.decode(buffer.getvalue())
