"""The equity curve as a streamed JSON page, `{"items": [{"time", "equity"}...], "total"}`.

Read from the database a slice at a time and encoded in a thread, so neither the API's memory
nor its event loop depends on the curve's length; a slow client only pauses the stream.
"""

import asyncio
from uuid import UUID

import asyncpg
import numpy as np
import numpy.typing as npt
import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from domain.market.intervals import iso_utc
from shared.repos.backtests import equity_length, equity_slice

SLICE_POINTS = 32_768


class EquityQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    points: int | None = Field(default=None, ge=2, le=1_000_000)


class EquityPoint(BaseModel):
    time: str
    equity: float


def kept_points(total: int, points: int | None) -> npt.NDArray[np.int64] | None:
    """Indices of a curve downsampled to at most `points`: evenly spaced, the first and the last
    always kept. None: keep every point."""
    if points is None or total <= points:
        return None
    return np.unique(np.linspace(0, total - 1, points).round().astype(np.int64))


def _times_text(times: npt.NDArray[np.int64]) -> list[str]:
    # Open times are whole minutes; numpy formats those as iso_utc does, a hundred times faster.
    if not np.any(times % 1000):
        stamps = np.datetime_as_string(times.astype("datetime64[ms]"), unit="s", timezone="UTC")
        return [str(s) for s in stamps]
    return [iso_utc(int(t)) for t in times]


def encode_points(times: npt.NDArray[np.int64], values: npt.NDArray[np.float64]) -> bytes:
    """Points as JSON objects separated by commas, without brackets (in a thread)."""
    items = [
        {"time": t, "equity": v} for t, v in zip(_times_text(times), values.tolist(), strict=True)
    ]
    return orjson.dumps(items)[1:-1]


async def stream_equity(
    request: web.Request, pool: asyncpg.Pool, backtest_id: UUID, points: int | None
) -> web.StreamResponse:
    total = await equity_length(pool, backtest_id) or 0
    keep = kept_points(total, points)
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    try:
        await _write_points(response, pool, backtest_id, total, keep)
    except ConnectionError:  # the client went away: nothing more to send
        return response
    await response.write_eof()
    return response


async def _write_points(
    response: web.StreamResponse,
    pool: asyncpg.Pool,
    backtest_id: UUID,
    total: int,
    keep: npt.NDArray[np.int64] | None,
) -> None:
    await response.write(b'{"items":[')
    wrote_any = False
    for first in range(0, total, SLICE_POINTS):
        count = min(SLICE_POINTS, total - first)
        curve = await equity_slice(pool, backtest_id, first, count)
        if curve is None:  # deleted meanwhile: end the page where it is
            break
        times, values = curve
        if keep is not None:
            inside = keep[np.searchsorted(keep, first) : np.searchsorted(keep, first + count)]
            times, values = times[inside - first], values[inside - first]
        if len(times) == 0:
            continue
        piece = await asyncio.to_thread(encode_points, times, values)
        await response.write(b"," + piece if wrote_any else piece)
        wrote_any = True
    await response.write(b'],"total":%d}' % total)
