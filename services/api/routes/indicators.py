"""GET /api/v1/backtests/{id}/indicators: the series the backtest's strategy looked at, for
the chart, over a window of the backtest's range (computed over the whole range with its
warm-up, so each value is the one the strategy saw)."""

import asyncio
from collections import OrderedDict
from datetime import datetime
from typing import TYPE_CHECKING, Literal
from uuid import UUID

import numpy as np
import numpy.typing as npt
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from services.api.endpoints import Endpoint, existing, json_response, read_query
from services.api.keys import POOL
from shared import market_data
from shared.repos import backtests as backtests_repo
from shared.series_range import Symbol
from shared.timestamps import UtcTime

if TYPE_CHECKING:
    from services.api.indicator_series import Indicator

MAX_POINTS = 5_000
# The chart asks a page of bars at a time: a finished backtest's series are computed once and
# kept for the next pages (the few most recent backtests; a result never changes).
_KEPT = 4
_computed: OrderedDict[tuple[UUID, str], tuple[npt.NDArray[np.int64], list["Indicator"]]] = (
    OrderedDict()
)


class IndicatorQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: UtcTime | None = Field(default=None, description="default: the backtest's start")
    end: UtcTime | None = Field(default=None, description="default: the backtest's end")
    symbol: Symbol | None = Field(
        default=None, description="a portfolio's symbol (default: the first)"
    )


class IndicatorLine(BaseModel):
    name: str = Field(description="the call as the language writes it, e.g. sma(close, 10)")
    pane: Literal["price", "lower"] = Field(description="price: on the candles; lower: below them")
    values: list[float | None] = Field(description="one per time; null where missing")


class IndicatorsView(BaseModel):
    times: list[datetime] = Field(description=f"the bars' open times (at most {MAX_POINTS})")
    items: list[IndicatorLine]


async def indicators(request: web.Request) -> web.Response:
    view = await existing(request, "backtest", backtests_repo.get_backtest)
    query = read_query(request, IndicatorQuery)
    r = view.request
    symbol = query.symbol or r.get("symbol") or (r.get("symbols") or [""])[0]
    start, end = datetime.fromisoformat(r["start"]), datetime.fromisoformat(r["end"])
    key = (view.id, symbol)
    if key in _computed:
        _computed.move_to_end(key)
        open_time, lines = _computed[key]
    else:
        warmup = view.data.warmup_bars if view.data else 0
        async with request.app[POOL].acquire() as conn:
            candles = await market_data.load_candles_warmed(
                conn, r["category"], symbol, r["interval"], start, end, warmup
            )
        # Imported on the first request, not at start: the API validates requests without
        # loading the engine's numeric core (numba); only this chart endpoint evaluates it.
        from services.api.indicator_series import strategy_lines

        lines = await asyncio.to_thread(strategy_lines, r["strategy"], candles)
        open_time = candles.open_time
        if view.status == "succeeded":
            _computed[key] = (open_time, lines)
            while len(_computed) > _KEPT:
                _computed.popitem(last=False)
    lo = max(start, query.start or start).timestamp() * 1000
    hi = min(end, query.end or end).timestamp() * 1000
    shown = np.flatnonzero((open_time >= lo) & (open_time <= hi))[-MAX_POINTS:]
    times = open_time[shown].astype("datetime64[ms]").astype(datetime).tolist()
    items = [
        IndicatorLine(
            name=line.name,
            pane=line.pane,
            values=[v if np.isfinite(v) else None for v in line.values[shown].tolist()],
        )
        for line in lines
    ]
    return json_response(IndicatorsView(times=times, items=items))


ENDPOINTS = [
    Endpoint(
        "GET",
        "/api/v1/backtests/{id}/indicators",
        indicators,
        "The series the backtest's strategy looked at (its indicators), for the chart",
        "backtests",
        query=IndicatorQuery,
        response=IndicatorsView,
        errors=(404, 422),
        operation_id="listBacktestIndicators",
    ),
]
