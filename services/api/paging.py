"""List answers: `{"items": [...], "total": N}` paged by `limit` (1..1000) and `offset`."""

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class PageQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=100, ge=1, le=1000)
    offset: int = Field(default=0, ge=0, le=2**31 - 1)


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
