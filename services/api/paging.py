"""List answers: `{"items": [...], "total": N}` paged by `limit` (1..1000) and `offset`."""

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from shared.jobs import JobStatus

T = TypeVar("T")


class PageQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=100, ge=1, le=1000)
    offset: int = Field(default=0, ge=0, le=2**31 - 1)


class JobFilter(PageQuery):
    """What a list of jobs that run a strategy on a series filters by."""

    status: JobStatus | None = None
    symbol: str | None = Field(default=None, pattern=r"^[A-Z0-9]{2,30}$")
    strategy: str | None = Field(default=None, pattern=r"^[a-z_]{1,50}$")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
