"""Saved strategies: a built-in strategy and its parameters under a name of their own."""

from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg
from pydantic import BaseModel

from shared.db import DbExecutor


class SavedStrategy(BaseModel):
    id: UUID
    name: str
    strategy: str
    params: dict[str, Any]
    created_at: datetime


class NameTaken(Exception):
    pass


_COLUMNS = "id, name, strategy, params, created_at"


async def save_strategy(
    db: DbExecutor, name: str, strategy: str, params: dict[str, Any]
) -> SavedStrategy:
    try:
        row = await db.fetchrow(
            f"""INSERT INTO strategies (id, name, strategy, params) VALUES ($1, $2, $3, $4)
                RETURNING {_COLUMNS}""",
            uuid4(),
            name,
            strategy,
            params,
        )
    except asyncpg.UniqueViolationError:
        raise NameTaken(name) from None
    assert row is not None
    return SavedStrategy(**dict(row))


async def get_strategy(db: DbExecutor, strategy_id: UUID) -> SavedStrategy | None:
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM strategies WHERE id = $1", strategy_id)
    return SavedStrategy(**dict(row)) if row else None


async def list_strategies(
    db: DbExecutor, *, limit: int, offset: int
) -> tuple[list[SavedStrategy], int]:
    """One page of saved strategies, oldest first, and how many there are."""
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM strategies ORDER BY created_at, id LIMIT $1 OFFSET $2",
        limit,
        offset,
    )
    total = await db.fetchval("SELECT count(*) FROM strategies")
    return [SavedStrategy(**dict(r)) for r in rows], int(total)


async def delete_strategy(db: DbExecutor, strategy_id: UUID) -> bool:
    return await db.execute("DELETE FROM strategies WHERE id = $1", strategy_id) == "DELETE 1"
