"""List answers: `{"items": [...], "total": N}` paged by `limit` (1..1000) and `offset`."""

from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from shared.jobs import JobStatus
from shared.series_range import upper_case

T = TypeVar("T")


class PageQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=100, ge=1, le=1000)
    offset: int = Field(default=0, ge=0, le=2**31 - 1)


class JobFilter(PageQuery):
    """What a list of jobs that run a strategy on a series filters by."""

    status: JobStatus | None = None
    symbol: Annotated[str, BeforeValidator(upper_case)] | None = Field(
        default=None, pattern=r"^[A-Z0-9]{2,30}$", description="case-insensitive"
    )
    strategy: str | None = Field(
        default=None,
        pattern=r"^[^\x00-\x1f]{1,100}$",
        description="a job's `strategy_name`: a built-in, plugin or saved strategy's name, an "
        "inline definition's `name`, or `expression`",
    )


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
