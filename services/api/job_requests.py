"""Checks of a backtest request that need the database: saved strategies and stored candles."""

from typing import Any
from uuid import UUID

from services.api.errors import Unprocessable
from shared import market_data
from shared.backtest_spec import BacktestSpec
from shared.db import DbExecutor
from shared.repos import strategies as strategies_repo
from shared.strategies import installed_strategies


async def with_saved_strategy(db: DbExecutor, body: Any, at: tuple[str, ...]) -> Any:
    """The request body with a saved strategy (named by `id`, or by a `name` that no built-in
    or plugin has) written out, so the request validates, and is stored, with exactly what
    will run. `at` is where the strategy object sits in the body."""
    holder = body
    for key in at[:-1]:
        holder = holder.get(key) if isinstance(holder, dict) else None
    ref = holder.get(at[-1]) if isinstance(holder, dict) else None
    if not isinstance(ref, dict) or ref.keys() - {"id", "name", "params"}:
        return body
    params = ref.get("params") if isinstance(ref.get("params"), dict) else None
    field = ".".join((*at, "id"))
    if "id" in ref:
        try:
            saved_id = UUID(str(ref["id"]))
        except ValueError:
            return body  # the model says what is wrong with it
        saved = await strategies_repo.get_strategy(db, saved_id)
        if saved is None:
            raise Unprocessable.for_field(field, "no saved strategy with this id")
    elif isinstance(ref.get("name"), str) and ref["name"] not in installed_strategies().names():
        saved = await strategies_repo.strategy_named(db, ref["name"])
        if saved is None:
            return body  # the model lists the names that exist
    else:
        return body
    assert isinstance(holder, dict)
    holder[at[-1]] = saved.as_request(params)
    return body


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
