"""Checks of a backtest request that need the database: saved strategies and stored candles."""

from services.api.errors import Unprocessable
from shared import market_data
from shared.backtest_spec import BacktestSpec, StrategyRef
from shared.db import DbExecutor
from shared.repos import strategies as strategies_repo


async def resolve_backtest(db: DbExecutor, spec: BacktestSpec, prefix: str = "") -> BacktestSpec:
    """The spec with a saved strategy replaced by its name and params, checked to have candles."""
    if spec.strategy.id is not None:
        saved = await strategies_repo.get_strategy(db, spec.strategy.id)
        if saved is None:
            raise Unprocessable.for_field(f"{prefix}strategy.id", "no saved strategy with this id")
        spec = spec.model_copy(
            update={"strategy": StrategyRef(name=saved.strategy, params=saved.params)}
        )
    return spec


def _no_candles(spec: BacktestSpec, prefix: str) -> Unprocessable:
    return Unprocessable.for_field(
        f"{prefix}start",
        f"no stored candles for {spec.category} {spec.symbol} {spec.interval} between "
        f"{spec.start.isoformat()} and {spec.end.isoformat()}; backfill them first",
    )


async def ensure_candles(db: DbExecutor, spec: BacktestSpec, prefix: str = "") -> None:
    """Refuse a range without a single stored candle."""
    if not await market_data.has_candles(
        db, spec.category, spec.symbol, spec.interval, spec.start, spec.end
    ):
        raise _no_candles(spec, prefix)


async def stored_bars(db: DbExecutor, spec: BacktestSpec, prefix: str = "") -> int:
    """How many candles the range holds; a range with none is refused."""
    count = await market_data.candle_count(
        db, spec.category, spec.symbol, spec.interval, spec.start, spec.end
    )
    if count == 0:
        raise _no_candles(spec, prefix)
    return count
