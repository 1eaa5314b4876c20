"""The `portfolio` block of a backtest request (docs/simulation.md, "Portfolios"): how many
positions at once, which symbols first, and whether to rotate at rebalance times."""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_SYMBOLS = 100
# symbols x bars per backtest (422 naming `symbols` above it).
MAX_SYMBOL_BARS = 50_000_000


class Rebalance(BaseModel):
    """Rotation at the first fill time of each UTC day, Monday-started week or month, or every
    `every` fill times."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    every: Literal["D", "W", "M"] | Annotated[int, Field(ge=1, le=1_000_000, strict=True)]


class PortfolioSpec(BaseModel):
    """Slots (`rebalance` null) or rotation over the request's `symbols`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_positions: int | None = Field(default=None, ge=1, le=MAX_SYMBOLS, strict=True)
    rank: str | None = Field(default=None, max_length=2_000)
    rebalance: Rebalance | None = None
