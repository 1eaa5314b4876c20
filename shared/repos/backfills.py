"""Backfill jobs as stored: the request, its status and its progress."""

import time
from datetime import UTC, datetime
from typing import Any, Literal, Self
from uuid import UUID, uuid4

import asyncpg
from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.market.intervals import interval_ms
from shared.db import DbConnection, DbExecutor, Statement
from shared.messages import RunBackfill
from shared.outbox import outbox_insert, outbox_values
from shared.series_range import SeriesRange
from shared.validation import field_error

# What a backfill of a perpetual fetches besides its candles.
BackfillFeed = Literal["mark_price", "funding"]
PERPETUAL_FEEDS: tuple[BackfillFeed, ...] = ("mark_price", "funding")
# Bounds of one backfill: Bybit has no candles before 2015, none after now, and one job over
# more candles than this would hold the ingest for hours and every later backfill behind it.
EARLIEST_START = datetime(2015, 1, 1, tzinfo=UTC)
MAX_CANDLES = 10_000_000


class BackfillSpec(SeriesRange):
    model_config = ConfigDict(frozen=True, extra="forbid")

    include: tuple[BackfillFeed, ...] = Field(
        default=(),
        description='Default ["mark_price", "funding"] for linear and inverse, [] for spot.',
    )

    @model_validator(mode="before")
    @classmethod
    def _default_include(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("include") is None:
            perpetual = data.get("category") in ("linear", "inverse")
            return {**data, "include": PERPETUAL_FEEDS if perpetual else ()}
        return data

    @model_validator(mode="after")
    def _spot_has_no_perpetual_data(self) -> Self:
        if self.category == "spot" and self.include:
            raise field_error(
                type(self).__name__, "include", "spot has no mark price or funding", self.include
            )
        return self

    @model_validator(mode="after")
    def _bounded(self) -> Self:
        step = interval_ms(self.interval)
        if self.start < EARLIEST_START:
            raise field_error("BackfillSpec", "start", "must be on or after 2015-01-01T00:00:00Z")
        candles = (self.end_ms - self.start_ms) // step + 1
        if candles > MAX_CANDLES:
            raise field_error(
                "BackfillSpec",
                "end",
                f"the range holds up to {candles} candles; at most {MAX_CANDLES} per backfill",
            )
        now_ms = int(time.time() * 1000)
        if self.end_ms > now_ms + step:
            raise field_error(
                "BackfillSpec", "end", "must be at most one interval after now", self.end_ms
            )
        return self


class BackfillView(BaseModel):
    id: UUID
    status: str
    category: str
    symbol: str
    interval: str
    start: datetime
    end: datetime
    include: list[str]
    rows: int  # candles written
    pages_done: int
    pages_total: int | None
    progress: float
    cursor: datetime | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


async def create_backfill(
    conn: DbConnection,
    spec: BackfillSpec,
    *,
    submission_id: UUID | None = None,
    job_id: UUID | None = None,
) -> UUID:
    """Insert the job (as `job_id`, or a new id) and its RunBackfill message; `submission_id`
    is the AMQP submission that asked for it, if one did."""
    backfill_id = job_id or uuid4()
    await insert_statement(spec, submission_id=submission_id, job_id=backfill_id).run(conn)
    return backfill_id


def insert_statement(spec: BackfillSpec, *, submission_id: UUID | None, job_id: UUID) -> Statement:
    """The job and its RunBackfill message in one statement (so one transaction)."""
    return Statement(
        f"""WITH job AS (
                INSERT INTO backfill_run (id, category, symbol, interval, start_time, end_time,
                                          include, submission_id)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                RETURNING id
            ), message AS ({outbox_insert(9)})
            SELECT id FROM job""",
        (
            job_id,
            spec.category,
            spec.symbol,
            spec.interval,
            spec.start,
            spec.end,
            [feed for feed in PERPETUAL_FEEDS if feed in spec.include],
            submission_id,
            *outbox_values(RunBackfill(backfill_id=job_id)),
        ),
    )


_VIEW_SQL = """
SELECT r.id, r.status, r.category, r.symbol, r.interval, r.start_time AS start, r.end_time AS end,
       r.include, coalesce(p.rows_written, 0) AS rows, coalesce(p.pages_done, 0) AS pages_done,
       p.pages_total, p.cursor_time AS cursor, r.error, r.created_at, r.started_at, r.finished_at
FROM backfill_run r LEFT JOIN backfill_progress p ON p.backfill_id = r.id
"""


def _view(row: asyncpg.Record) -> BackfillView:
    data: dict[str, Any] = dict(row)
    if data["status"] == "succeeded":
        data["progress"] = 1.0
    elif data["pages_total"]:
        data["progress"] = data["pages_done"] / data["pages_total"]
    else:
        data["progress"] = 0.0
    return BackfillView(**data)


async def get_backfill(conn: DbExecutor, backfill_id: UUID) -> BackfillView | None:
    row = await conn.fetchrow(_VIEW_SQL + " WHERE r.id = $1", backfill_id)
    return _view(row) if row else None


async def list_backfills(
    conn: DbExecutor, *, limit: int, offset: int
) -> tuple[list[BackfillView], int]:
    rows = await conn.fetch(
        _VIEW_SQL + " ORDER BY r.created_at DESC LIMIT $1 OFFSET $2", limit, offset
    )
    total = await conn.fetchval("SELECT count(*) FROM backfill_run")
    return [_view(r) for r in rows], int(total)
