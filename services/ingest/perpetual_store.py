"""Writing funding rates, and instruments with their risk tiers, with their raw pages."""

from uuid import UUID

from domain.market.intervals import from_epoch_ms
from services.ingest.bybit_rest import PerpetualLimits
from services.ingest.kline_store import RawPage, Series, record_raw_pages
from services.ingest.perpetual_pages import Fundings
from shared.db import DbConnection


async def store_fundings(
    conn: DbConnection,
    series: Series,
    fundings: Fundings,
    raw_pages: list[RawPage],
    backfill_id: UUID | None = None,
) -> int:
    """Insert or refresh the fundings, in one transaction with their raw pages."""
    async with conn.transaction():
        if len(fundings):
            await conn.execute(
                """INSERT INTO funding_rates (category, symbol, funding_time, rate)
                   SELECT $1, $2, t, r FROM unnest($3::timestamptz[], $4::float8[]) AS page(t, r)
                   ON CONFLICT (category, symbol, funding_time) DO UPDATE SET rate = EXCLUDED.rate
                   WHERE funding_rates.rate IS DISTINCT FROM EXCLUDED.rate""",
                series.category,
                series.symbol,
                [from_epoch_ms(t) for t in fundings.time.tolist()],
                fundings.rate.tolist(),
            )
        await record_raw_pages(conn, series, raw_pages, backfill_id)
    return len(fundings)


async def store_limits(
    conn: DbConnection, series: Series, limits: PerpetualLimits, backfill_id: UUID | None = None
) -> None:
    """The instrument's funding interval, leverage filter and tiers, replacing what was stored."""
    inst = limits.instrument
    async with conn.transaction():
        await conn.execute(
            """INSERT INTO instruments (category, symbol, funding_interval, min_leverage,
                                        max_leverage, leverage_step, updated_at)
               VALUES ($1, $2, $3, $4, $5, $6, now())
               ON CONFLICT (category, symbol) DO UPDATE SET
                   funding_interval = EXCLUDED.funding_interval,
                   min_leverage = EXCLUDED.min_leverage, max_leverage = EXCLUDED.max_leverage,
                   leverage_step = EXCLUDED.leverage_step, updated_at = now()""",
            series.category,
            series.symbol,
            inst.funding_interval,
            inst.min_leverage,
            inst.max_leverage,
            inst.leverage_step,
        )
        await conn.execute(
            "DELETE FROM risk_limit_tiers WHERE category = $1 AND symbol = $2",
            series.category,
            series.symbol,
        )
        await conn.executemany(
            """INSERT INTO risk_limit_tiers (category, symbol, tier_id, risk_limit_value,
                   maintenance_margin, initial_margin, is_lowest_risk, max_leverage, mm_deduction)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
            [
                (
                    series.category,
                    series.symbol,
                    t.tier_id,
                    t.risk_limit_value,
                    t.maintenance_margin,
                    t.initial_margin,
                    t.is_lowest_risk,
                    t.max_leverage,
                    t.mm_deduction,
                )
                for t in limits.tiers
            ],
        )
        await record_raw_pages(conn, series, limits.raw, backfill_id)
