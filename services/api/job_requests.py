"""Checks of a backtest request that need the database: saved strategies, stored candles and
a perpetual's limits and fundings."""

import re
from collections.abc import Sequence
from datetime import timedelta
from typing import Any
from uuid import UUID

from domain.strategies import installed_strategies
from services.api.errors import Unprocessable
from shared import market_data
from shared.backtest_spec import BacktestSpec, Leverage
from shared.db import DbExecutor
from shared.market_data import InstrumentLimits
from shared.repos import strategies as strategies_repo
from shared.series_range import symbol_or_none

# A saved strategy's name: 1 to 100 characters, no control character (nor NUL).
SAVED_NAME = re.compile(r"^[^\x00-\x1f]{1,100}$")


async def with_saved_strategy(db: DbExecutor, body: Any, at: tuple[str, ...]) -> Any:
    """The request body with a saved strategy (named by `id`, or by a `name` that no built-in
    or plugin has) written out, so the request validates, and is stored, with exactly what
    will run. `at` is where the strategy object sits in the body."""
    holder = body
    for key in at[:-1]:
        holder = holder.get(key) if isinstance(holder, dict) else None
    ref = holder.get(at[-1]) if isinstance(holder, dict) else None
    if not isinstance(ref, dict) or ref.keys() - {"id", "name", "params", "saved_as"}:
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
    elif (
        isinstance(ref.get("name"), str)
        and ref["name"] not in installed_strategies().names()
        and SAVED_NAME.match(ref["name"])
    ):
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
    """Refuse a range without a single stored candle, or of `fill_detail` candles; for a
    portfolio, of any of its symbols (naming it)."""
    if spec.symbols is not None:
        await _ensure_portfolio_candles(db, spec, prefix)
        return
    if not await market_data.has_candles(
        db, spec.category, spec.symbol, spec.interval, spec.start, spec.end
    ):
        raise _no_candles(spec, prefix)
    await _ensure_fill_detail(db, spec, prefix)


async def _ensure_portfolio_candles(db: DbExecutor, spec: BacktestSpec, prefix: str) -> None:
    for i, symbol in enumerate(spec.symbols or ()):
        if not await market_data.has_candles(
            db, spec.category, symbol, spec.interval, spec.start, spec.end
        ):
            raise Unprocessable.for_field(
                f"{prefix}symbols.{i}",
                f"no stored candles for {spec.category} {symbol} {spec.interval} between "
                f"{spec.start.isoformat()} and {spec.end.isoformat()}; backfill them first",
            )


async def stored_bars(db: DbExecutor, spec: BacktestSpec, prefix: str = "") -> int:
    """How many candles the range holds; a range with none (or none of its `fill_detail`
    candles) is refused. A portfolio's: its first symbol's, each symbol checked."""
    if spec.symbols is not None:
        await _ensure_portfolio_candles(db, spec, prefix)
    count = await market_data.candle_count(
        db, spec.category, spec.symbol, spec.interval, spec.start, spec.end
    )
    if count == 0:
        raise _no_candles(spec, prefix)
    await _ensure_fill_detail(db, spec, prefix)
    return count


async def _ensure_fill_detail(db: DbExecutor, spec: BacktestSpec, prefix: str) -> None:
    """`fill_detail` needs its candles stored for the range, some of them at least (bars
    without theirs fall back to the bar rules, with a warning)."""
    detail = spec.fill_detail
    if detail is None:
        return
    if not await market_data.has_candles(
        db, spec.category, spec.symbol, detail, spec.start, spec.end
    ):
        raise Unprocessable.for_field(
            f"{prefix}fill_detail",
            f"no stored {spec.category} {spec.symbol} {detail} candles between "
            f"{spec.start.isoformat()} and {spec.end.isoformat()}; backfill interval "
            f"{detail} for the range first",
        )


# Without a stored funding interval, how far before `start` and after `end` a stored funding
# still shows the range is covered (Bybit's most common interval).
_DEFAULT_FUNDING_INTERVAL = timedelta(hours=8)


class InstrumentsRead:
    """Instruments' limits, each read once for a request (preparing it and checking it both
    need them)."""

    def __init__(self, db: DbExecutor) -> None:
        self.db = db
        self._limits: dict[tuple[str, str], InstrumentLimits | None] = {}

    async def limits(self, category: str, symbol: str) -> InstrumentLimits | None:
        key = (category, symbol)
        if key not in self._limits:
            self._limits[key] = await market_data.instrument_limits(self.db, category, symbol)
        return self._limits[key]


async def prepared_backtest(
    instruments: InstrumentsRead, body: Any, at: tuple[str, ...] = ()
) -> Any:
    """The backtest body at `at` with its saved strategy written out and, for a perpetual
    without `maintenance_margin_rate`, its instrument's lowest-risk tier's rate filled in, so
    the stored request holds it."""
    db = instruments.db
    body = await with_saved_strategy(db, body, (*at, "strategy"))
    backtest = body
    for key in at:
        backtest = backtest.get(key) if isinstance(backtest, dict) else None
    if not isinstance(backtest, dict) or "maintenance_margin_rate" in backtest:
        return body
    category, symbol = backtest.get("category"), symbol_or_none(backtest.get("symbol"))
    if category not in ("linear", "inverse") or symbol is None:
        return body  # validation says what is wrong
    limits = await instruments.limits(category, symbol)
    if limits is not None and limits.lowest_maintenance_margin is not None:
        backtest["maintenance_margin_rate"] = limits.lowest_maintenance_margin
    return body


async def ensure_perpetual_limits(
    instruments: InstrumentsRead,
    spec: BacktestSpec,
    prefix: str = "",
    grid_leverage: Sequence[Leverage] = (),
    grid_fields: Sequence[str] = (),
) -> None:
    """Refuse a leverage above the instrument's stored maximum (the request's, or a value of
    `param_grid.leverage`, or of a search's space at `grid_fields`) and funding over a range
    without stored fundings."""
    if spec.category == "spot":
        return
    for symbol in spec.symbols or (spec.symbol,):
        await _ensure_symbol_limits(instruments, spec, symbol, prefix, grid_leverage, grid_fields)


async def _ensure_symbol_limits(
    instruments: InstrumentsRead,
    spec: BacktestSpec,
    symbol: str,
    prefix: str,
    grid_leverage: Sequence[Leverage],
    grid_fields: Sequence[str],
) -> None:
    limits = await instruments.limits(spec.category, symbol)
    if limits is not None and limits.max_leverage is not None:
        ceiling = limits.max_leverage
        beyond = f"above {symbol}'s maximum leverage {ceiling:g}"
        if spec.leverage > ceiling:
            raise Unprocessable.for_field(f"{prefix}leverage", f"{spec.leverage:g} is {beyond}")
        for i, value in enumerate(grid_leverage):
            if value > ceiling:
                field = grid_fields[i] if grid_fields else f"param_grid.leverage.{i}"
                raise Unprocessable.for_field(field, f"{value:g} is {beyond}")
    if not spec.funding:
        return
    interval = _DEFAULT_FUNDING_INTERVAL
    if limits is not None and limits.funding_interval:
        interval = timedelta(minutes=limits.funding_interval)
    start, end = spec.start - interval, spec.end + interval
    if not await market_data.has_fundings(instruments.db, spec.category, symbol, start, end):
        raise Unprocessable.for_field(
            f"{prefix}funding",
            f"no stored funding history for {spec.category} {symbol} between "
            f"{spec.start.isoformat()} and {spec.end.isoformat()}; backfill it (include "
            '"funding") or send "funding": false',
        )
