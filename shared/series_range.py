"""A stretch of one candle series: what backfills, candle queries and backtests all name."""

import re
from datetime import datetime
from typing import Annotated, Any, Self

from pydantic import BaseModel, BeforeValidator, Field, model_validator

from domain.market.intervals import INTERVAL_ALIASES, Category, Interval
from shared.timestamps import UtcTime, to_epoch_ms
from shared.validation import field_error


def bybit_interval(value: Any) -> Any:
    """Bybit's interval for what a client sent: `60` (a number) is "60", `1h` is "60" (see
    INTERVAL_ALIASES); anything else as it is, for the model to accept or refuse."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # clients often send "interval": 60; Bybit's values are strings
    if isinstance(value, str):
        # Case-insensitive ("1H" is "1h"), but an upper-case M means a month, never minutes.
        return INTERVAL_ALIASES.get(value if "M" in value else value.lower(), value)
    return value


def upper_case(value: Any) -> Any:
    """Symbols are case-insensitive: `btcusdt` is BTCUSDT."""
    return value.upper() if isinstance(value, str) else value


SYMBOL_PATTERN = re.compile(r"^[A-Z0-9]{2,30}$")
Symbol = Annotated[str, BeforeValidator(upper_case), Field(pattern=SYMBOL_PATTERN.pattern)]


def symbol_or_none(value: Any) -> str | None:
    """`value` as a valid symbol (upper-cased), or None: for lookups before validation."""
    symbol = upper_case(value)
    return symbol if isinstance(symbol, str) and SYMBOL_PATTERN.match(symbol) else None


# An interval as requests give it: Bybit's string, an alias (`1h`) or a number of minutes.
IntervalText = Annotated[Interval, BeforeValidator(bybit_interval)]


def check_ordered(model: BaseModel, start: datetime, end: datetime) -> None:
    if start >= end:
        raise field_error(
            type(model).__name__, "start", "start must be before end", start.isoformat()
        )


class SeriesRange(BaseModel):
    category: Category
    symbol: Symbol
    interval: IntervalText
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
