"""Settings of the simulated exchange, from `BYBIT_SIM_*` environment variables."""

from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from domain.market.intervals import CATEGORIES
from shared.timestamps import parse_epoch_ms

DEFAULT_SYMBOLS = ("linear:BTCUSDT", "linear:ETHUSDT", "spot:BTCUSDT", "inverse:BTCUSD")


def _split_list(value: object) -> object:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


class SimSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BYBIT_SIM_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8900, ge=0, le=65535)
    seed: int = 1
    # category:SYMBOL, comma separated in the environment.
    symbols: Annotated[tuple[str, ...], NoDecode] = DEFAULT_SYMBOLS
    # Candles and launchTime begin here.
    history_start: int = parse_epoch_ms("2024-01-01T00:00Z")
    # category:SYMBOL:startISO/endISO, comma separated: minutes in [start, end) have no candles.
    gaps: Annotated[tuple[str, ...], NoDecode] = ()
    # CSV or Parquet of 1-minute candles replacing the random walk of `data_symbol`.
    data_file: Path | None = None
    data_symbol: str = "linear:BTCUSDT"
    # Sim time = clock_start + elapsed real time x clock_speed; clock_start defaults to now.
    clock_start: int | None = None
    clock_speed: float = Field(default=1.0, gt=0)
    rate_limit_enabled: bool = True
    rate_limit_requests: int = Field(default=600, ge=1)
    rate_limit_window_seconds: float = Field(default=5.0, gt=0)
    ban_seconds: float = Field(default=600.0, ge=0)
    fault_10006_rate: float = Field(default=0.0, ge=0, le=1)
    fault_10006_reset_ms: int = Field(default=500, ge=0)
    fault_502_rate: float = Field(default=0.0, ge=0, le=1)
    fault_disconnect_rate: float = Field(default=0.0, ge=0, le=1)
    latency_ms: float = Field(default=0.0, ge=0)
    ws_push_interval_seconds: float = Field(default=1.0, gt=0)
    ws_drop_after_seconds: float | None = Field(default=None, gt=0)
    ws_idle_timeout_seconds: float = Field(default=600.0, gt=0)
    log_level: str = "INFO"

    @field_validator("history_start", "clock_start", mode="before")
    @classmethod
    def _time_ms(cls, value: object) -> object:
        return None if value is None or value == "" else parse_epoch_ms(value)

    @field_validator("symbols", "gaps", mode="before")
    @classmethod
    def _list(cls, value: object) -> object:
        return _split_list(value)

    @field_validator("symbols")
    @classmethod
    def _symbols_valid(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            category, _, symbol = item.partition(":")
            if category not in CATEGORIES or not symbol or symbol != symbol.upper():
                raise ValueError(f"symbol {item!r} is not category:SYMBOL")
        return value

    @field_validator("gaps")
    @classmethod
    def _gaps_valid(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            parse_gap(item)
        return value

    def gap_ranges(self) -> list[tuple[str, str, int, int]]:
        """(category, symbol, start_ms, end_ms) of every configured gap."""
        return [parse_gap(item) for item in self.gaps]


def parse_gap(item: str) -> tuple[str, str, int, int]:
    parts = item.split(":", 2)
    if len(parts) != 3 or "/" not in parts[2]:
        raise ValueError(f"gap {item!r} is not category:SYMBOL:startISO/endISO")
    start, end = (parse_epoch_ms(part) for part in parts[2].split("/", 1))
    if end <= start:
        raise ValueError(f"gap {item!r} ends before it starts")
    return parts[0], parts[1], start, end
