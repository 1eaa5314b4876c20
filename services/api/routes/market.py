"""Stored market data: coverage per series, and candles."""

from datetime import datetime

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from services.api.endpoints import Endpoint, json_response, read_query
from services.api.keys import POOL
from services.api.paging import Page, PageQuery
from shared import market_data
from shared.series_range import SeriesRange


class Gap(BaseModel):
    start: datetime
    end: datetime


class SeriesCoverage(BaseModel):
    category: str
    symbol: str
    interval: str
    first_open_time: datetime
    last_open_time: datetime
    count: int
    gaps: list[Gap]


class Candle(BaseModel):
    open_time: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float
    turnover: float


class KlineQuery(PageQuery, SeriesRange):
    model_config = ConfigDict(extra="forbid")


async def list_symbols(request: web.Request) -> web.Response:
    query = read_query(request, PageQuery)
    items, total = await market_data.coverage(
        request.app[POOL], limit=query.limit, offset=query.offset
    )
    return json_response(Page[SeriesCoverage](items=items, total=total))


async def list_klines(request: web.Request) -> web.Response:
    query = read_query(request, KlineQuery)
    items, total = await market_data.candles_page(
        request.app[POOL],
        query.category,
        query.symbol,
        query.interval,
        query.start,
        query.end,
        limit=query.limit,
        offset=query.offset,
    )
    return json_response(Page[Candle](items=items, total=total))


ENDPOINTS = [
    Endpoint(
        "GET",
        "/api/v1/symbols",
        list_symbols,
        "Stored coverage per series, with gaps",
        "market data",
        query=PageQuery,
        response=Page[SeriesCoverage],
        errors=(422,),
    ),
    Endpoint(
        "GET",
        "/api/v1/klines",
        list_klines,
        "Stored candles, oldest first",
        "market data",
        query=KlineQuery,
        response=Page[Candle],
        errors=(422,),
    ),
]
