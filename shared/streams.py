"""The `INGEST_STREAMS` format: `category:SYMBOL:interval`, comma separated."""

from dataclasses import dataclass

from domain.market.intervals import CATEGORIES, INTERVALS


@dataclass(frozen=True)
class StreamSpec:
    category: str
    symbol: str
    interval: str

    @property
    def topic(self) -> str:
        return f"kline.{self.interval}.{self.symbol}"


def parse_streams(text: str) -> list[StreamSpec]:
    specs = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        parts = item.split(":")
        if len(parts) != 3:
            raise ValueError(f"INGEST_STREAMS item {item!r} is not category:SYMBOL:interval")
        category, symbol, interval = parts
        if category not in CATEGORIES:
            raise ValueError(f"INGEST_STREAMS item {item!r}: category must be one of {CATEGORIES}")
        if interval not in INTERVALS:
            raise ValueError(f"INGEST_STREAMS item {item!r}: interval must be one of {INTERVALS}")
        if not symbol or symbol != symbol.upper():
            raise ValueError(f"INGEST_STREAMS item {item!r}: symbol must be upper case")
        specs.append(StreamSpec(category, symbol, interval))
    return specs
