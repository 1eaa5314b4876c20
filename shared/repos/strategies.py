"""Saved strategies: a preset (a strategy and its parameters under a name of their own) or an
expression strategy (its definition under a name)."""

from datetime import datetime
from typing import Any, Literal
from uuid import UUID, uuid4

import asyncpg
from pydantic import BaseModel

from shared.db import DbExecutor

SavedKind = Literal["preset", "expression"]


class SavedStrategy(BaseModel):
    id: UUID
    name: str
    strategy: str | None  # a preset's strategy
    params: dict[str, Any]
    definition: dict[str, Any] | None  # an expression strategy's
    created_at: datetime

    @property
    def kind(self) -> SavedKind:
        return "expression" if self.definition is not None else "preset"

    def as_request(self, params: dict[str, Any] | None) -> dict[str, Any]:
        """The strategy of a request written out: a preset's strategy with its params under
        the request's, or an expression's definition with the request's params; `saved_as`
        keeps this strategy's name, the job's `strategy_name`."""
        if self.definition is not None:
            return {"definition": self.definition, "params": params or {}, "saved_as": self.name}
        return {
            "name": self.strategy,
            "params": {**self.params, **(params or {})},
            "saved_as": self.name,
        }


class NameTaken(Exception):
    pass


_COLUMNS = "id, name, strategy, params, definition, created_at"


async def save_strategy(
    db: DbExecutor,
    name: str,
    *,
    strategy: str | None = None,
    params: dict[str, Any] | None = None,
    definition: dict[str, Any] | None = None,
) -> SavedStrategy:
    try:
        row = await db.fetchrow(
            f"""INSERT INTO strategies (id, name, strategy, params, definition)
                VALUES ($1, $2, $3, $4, $5) RETURNING {_COLUMNS}""",
            uuid4(),
            name,
            strategy,
            params or {},
            definition,
        )
    except asyncpg.UniqueViolationError:
        raise NameTaken(name) from None
    assert row is not None
    return SavedStrategy(**dict(row))


async def get_strategy(db: DbExecutor, strategy_id: UUID) -> SavedStrategy | None:
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM strategies WHERE id = $1", strategy_id)
    return SavedStrategy(**dict(row)) if row else None


async def strategy_named(db: DbExecutor, name: str) -> SavedStrategy | None:
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM strategies WHERE name = $1", name)
    return SavedStrategy(**dict(row)) if row else None


async def list_strategies(
    db: DbExecutor, *, limit: int, offset: int
) -> tuple[list[SavedStrategy], int]:
    """Oldest first, one page of them, and how many there are."""
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM strategies ORDER BY created_at, id LIMIT $1 OFFSET $2",
        limit,
        offset,
    )
    total = await db.fetchval("SELECT count(*) FROM strategies")
    return [SavedStrategy(**dict(r)) for r in rows], int(total)


async def delete_strategy(db: DbExecutor, strategy_id: UUID) -> bool:
    return await db.execute("DELETE FROM strategies WHERE id = $1", strategy_id) == "DELETE 1"
