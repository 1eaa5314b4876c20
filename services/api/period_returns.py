"""`GET /backtests/{id}/returns?period=`: the equity curve's return per calendar period.

A period's return is its last equity over the last equity of the period before (the initial
capital for the first) minus one; a bar belongs to the period of its open time (UTC); weeks
start on Monday and are labelled by ISO week (`2025-W03`). The curve is read a slice at a
time, as the equity page is, so memory does not grow with its length.
"""

import asyncio
import math
from datetime import UTC, datetime
from typing import Literal
from uuid import UUID

import asyncpg
import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from domain.market.intervals import DAY_MS
from services.api.equity_stream import SLICE_POINTS
from shared.repos.backtests import equity_length, equity_slice

Period = Literal["year", "month", "week", "day"]
# 1970-01-01 was a Thursday: Monday-started weeks count from four days later.
_FIRST_MONDAY_DAY = 4


class ReturnsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    period: Period = "month"


class PeriodReturn(BaseModel):
    model_config = ConfigDict(validate_by_name=True, serialize_by_alias=True)

    period: str = Field(description="2025, 2025-01, 2025-W03 (ISO week) or 2025-01-15")
    return_: float | None = Field(
        alias="return",
        description="the period's last equity / the previous period's last equity - 1 (the "
        "initial capital before the first); null where undefined",
    )


def period_keys(times: npt.NDArray[np.int64], period: Period) -> npt.NDArray[np.int64]:
    """An integer per open time, equal within a period and increasing with time."""
    stamps = times.astype("datetime64[ms]")
    if period == "year":
        return stamps.astype("datetime64[Y]").astype(np.int64)
    if period == "month":
        return stamps.astype("datetime64[M]").astype(np.int64)
    days = times // DAY_MS
    return (days - _FIRST_MONDAY_DAY) // 7 if period == "week" else days


def period_label(key: int, period: Period) -> str:
    if period == "year":
        return str(1970 + key)
    if period == "month":
        year, month0 = divmod(key, 12)
        return f"{1970 + year}-{month0 + 1:02d}"
    if period == "week":
        monday = datetime.fromtimestamp((key * 7 + _FIRST_MONDAY_DAY) * DAY_MS / 1000, UTC)
        iso = monday.isocalendar()
        return f"{iso.year}-W{iso.week:02d}"
    return datetime.fromtimestamp(key * DAY_MS / 1000, UTC).strftime("%Y-%m-%d")


def period_ends(
    times: npt.NDArray[np.int64], values: npt.NDArray[np.float64], period: Period
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Each period's key and its last equity, in time order."""
    keys = period_keys(times, period)
    last = np.flatnonzero(np.append(keys[1:] != keys[:-1], True)) if keys.size else keys
    return keys[last], values[last]


def period_returns(
    keys: list[int], ends: list[float], initial_capital: float, period: Period
) -> list[PeriodReturn]:
    items = []
    before = initial_capital
    for key, end in zip(keys, ends, strict=True):
        # A wiped-out account opens nothing more: its later periods return 0.
        change = 0.0 if before == 0.0 else end / before - 1.0
        items.append(
            PeriodReturn(
                period=period_label(key, period),
                return_=change if math.isfinite(change) else None,
            )
        )
        before = end
    return items


async def returns_by_period(
    pool: asyncpg.Pool, backtest_id: UUID, initial_capital: float, period: Period
) -> list[PeriodReturn]:
    """The stored curve's returns per `period`, oldest first; none without a curve."""
    total = await equity_length(pool, backtest_id) or 0
    keys: list[int] = []
    ends: list[float] = []
    for first in range(0, total, SLICE_POINTS):
        curve = await equity_slice(pool, backtest_id, first, min(SLICE_POINTS, total - first))
        if curve is None:  # deleted meanwhile
            return []
        slice_keys, slice_ends = await asyncio.to_thread(period_ends, *curve, period)
        for key, end in zip(slice_keys.tolist(), slice_ends.tolist(), strict=True):
            if keys and keys[-1] == key:  # a period across two slices ends in the later one
                ends[-1] = end
            else:
                keys.append(key)
                ends.append(end)
    return period_returns(keys, ends, initial_capital, period)
