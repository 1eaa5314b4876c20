"""A stretch of one candle series: what backfills, candle queries and backtests all name."""

from datetime import datetime
from typing import Annotated, Any, Self

from pydantic import BaseModel, BeforeValidator, Field, model_validator

from domain.market.intervals import Category, Interval
from shared.timestamps import UtcTime, to_epoch_ms
from shared.validation import field_error


def _interval_text(value: Any) -> Any:
    # Clients often send "interval": 60; Bybit's values are strings.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


Symbol = Annotated[str, Field(pattern=r"^[A-Z0-9]{2,30}$")]


def check_ordered(model: BaseModel, start: datetime, end: datetime) -> None:
    if start >= end:
        raise field_error(
            type(model).__name__, "start", "start must be before end", start.isoformat()
        )


class SeriesRange(BaseModel):
    category: Category
    symbol: Symbol
    interval: Annotated[Interval, BeforeValidator(_interval_text)]
    start: UtcTime
    end: UtcTime

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        check_ordered(self, self.start, self.end)
        return self

    @property
    def start_ms(self) -> int:
        return to_epoch_ms(self.start)

    @property
    def end_ms(self) -> int:
        return to_epoch_ms(self.end)
