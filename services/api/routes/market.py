"""Stored market data: coverage per series, candles (last or mark price), and fundings."""

from datetime import datetime
from typing import Literal, Self

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.api.endpoints import Endpoint, json_response, read_query
from services.api.keys import POOL
from services.api.paging import Page, PageQuery
from shared import market_data
from shared.series_range import SeriesRange, Symbol, check_ordered
from shared.timestamps import UtcTime
from shared.validation import field_error


class Gap(BaseModel):
    start: datetime
    end: datetime


class MarkPriceCoverage(BaseModel):
    first_open_time: datetime
    last_open_time: datetime
    count: int
    gaps: list[Gap]


class FundingCoverage(BaseModel):
    first_time: datetime
    last_time: datetime
    count: int


class SeriesCoverage(BaseModel):
    category: str
    symbol: str
    interval: str
    first_open_time: datetime
    last_open_time: datetime
    count: int
    gaps: list[Gap]
    mark_price: MarkPriceCoverage | None = Field(
        default=None, description="Stored mark-price candles of the series (perpetuals)"
    )
    funding: FundingCoverage | None = Field(
        default=None, description="Stored fundings of the symbol (perpetuals)"
    )


class Candle(BaseModel):
    open_time: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float | None = Field(
        default=None, description="null for price=mark: mark prices have no volume"
    )
    turnover: float | None = Field(default=None, description="null for price=mark")


class KlineQuery(PageQuery, SeriesRange):
    model_config = ConfigDict(extra="forbid")

    price: Literal["last", "mark"] = Field(
        default="last", description="mark: the mark-price candles of a linear or inverse contract"
    )

    @model_validator(mode="after")
    def _mark_price_of_perpetuals(self) -> Self:
        if self.price == "mark" and self.category == "spot":
            raise field_error(type(self).__name__, "price", "spot has no mark price", self.price)
        return self


class FundingQuery(PageQuery):
    model_config = ConfigDict(extra="forbid")

    category: Literal["linear", "inverse"]
    symbol: Symbol
    start: UtcTime
    end: UtcTime

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        check_ordered(self, self.start, self.end)
        return self


class FundingRate(BaseModel):
    time: datetime = Field(description="When the funding was settled")
    rate: float = Field(description="Paid by longs to shorts when positive, as a fraction")


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
        price=query.price,
    )
    return json_response(Page[Candle](items=items, total=total))


async def list_funding(request: web.Request) -> web.Response:
    query = read_query(request, FundingQuery)
    items, total = await market_data.fundings_page(
        request.app[POOL],
        query.category,
        query.symbol,
        query.start,
        query.end,
        limit=query.limit,
        offset=query.offset,
    )
    return json_response(Page[FundingRate](items=items, total=total))


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
        "Stored candles (or mark-price candles), oldest first",
        "market data",
        query=KlineQuery,
        response=Page[Candle],
        errors=(422,),
    ),
    Endpoint(
        "GET",
        "/api/v1/funding",
        list_funding,
        "Stored fundings of a perpetual, oldest first",
        "market data",
        query=FundingQuery,
        response=Page[FundingRate],
        errors=(422,),
    ),
]
