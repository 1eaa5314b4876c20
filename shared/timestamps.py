"""Times as requests and settings give them: ISO-8601 (naive means UTC) or epoch milliseconds."""

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, TypeAdapter, ValidationError

from domain.market.intervals import from_epoch_ms, iso_utc

__all__ = [
    "UtcTime",
    "from_epoch_ms",
    "iso_utc",
    "parse_epoch_ms",
    "parse_utc",
    "to_epoch_ms",
    "to_utc",
]

_DIGITS = re.compile(r"^-?\d+$")
# Beyond these, epoch milliseconds are surely a mistake (and datetime cannot hold them all).
_EARLIEST_MS = 0
_LATEST_MS = 253_402_300_799_000  # 9999-12-31T23:59:59Z


def _epoch_ms_or_iso(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("must be an ISO-8601 time or epoch milliseconds")
    if isinstance(value, str) and _DIGITS.match(value.strip()):
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        if not _EARLIEST_MS <= value <= _LATEST_MS:
            raise ValueError("epoch milliseconds out of range")
        return datetime.fromtimestamp(value / 1000, UTC)
    return value


def to_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UtcTime = Annotated[datetime, BeforeValidator(_epoch_ms_or_iso), AfterValidator(to_utc)]


_UTC_TIME: TypeAdapter[datetime] = TypeAdapter(UtcTime)


def parse_utc(value: Any) -> datetime:
    """A time as requests give it (ISO-8601 or epoch ms), aware UTC; ValueError otherwise."""
    try:
        return _UTC_TIME.validate_python(value)
    except ValidationError:
        raise ValueError(f"{value!r} is not an ISO-8601 time or epoch milliseconds") from None


def parse_epoch_ms(value: Any) -> int:
    """A time as requests give it (ISO-8601 or epoch ms), as epoch milliseconds."""
    return to_epoch_ms(parse_utc(value))


def to_epoch_ms(value: datetime) -> int:
    return int(to_utc(value).timestamp() * 1000)
