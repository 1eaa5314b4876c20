"""Creating a job from a submitted request: one path for both transports.

`POST /backtests`, `/optimizations` and `/backfills` and the AMQP submissions
(`SubmitBacktest`, ...) hand the request's JSON bytes to `submit_job`: it is parsed by the
same models, checked against the database the same way, and created once per idempotency key
(the `Idempotency-Key` header, or the message's `id`) with its job row and outbox row in one
transaction. A refusal is an `ApiError` (the 422 a client sees, or the rejection a producer
is sent).
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg
from aiohttp import web
from pydantic import BaseModel

from domain.optimization.walk_forward import (
    WalkForwardRejected,
    checked_window_count,
    progress_total,
)
from services.api.commit_groups import CommitGroups
from services.api.endpoints import accepted, parse_body
from services.api.errors import Conflict, Unprocessable
from services.api.idempotency import (
    HEADER,
    Creation,
    Submission,
    create_once,
    idempotency_key,
)
from services.api.job_requests import (
    InstrumentsRead,
    ensure_candles,
    ensure_perpetual_limits,
    prepared_backtest,
    stored_bars,
)
from services.api.keys import POOL, READS
from services.api.request_body import read_body_bytes
from services.api.request_budget import commit_sent, submitting
from shared.backtest_spec import BacktestSpec
from shared.db import DbExecutor, Statement
from shared.jobs import JOB_TABLES, JobKind, JobStatus, JobTable
from shared.optimization_spec import OptimizationSpec
from shared.repos import backfills as backfills_repo
from shared.repos import backtests as backtests_repo
from shared.repos import optimizations as optimizations_repo
from shared.repos.backfills import BackfillSpec, get_backfill
from shared.repos.jobs import job_status

# The statement creating the validated job under the id given, with the AMQP submission id
# that asked for it (None over HTTP).
Insert = Callable[[UUID, UUID | None], Statement]


@dataclass(frozen=True)
class ValidJob:
    spec: BaseModel
    insert: Insert


async def _valid_backtest(db: DbExecutor, body: bytes, numbers_checked: bool) -> ValidJob:
    instruments = InstrumentsRead(db)
    spec = await parse_body(
        body,
        BacktestSpec,
        lambda parsed: prepared_backtest(instruments, parsed),
        numbers_checked=numbers_checked,
    )
    await ensure_candles(db, spec)
    await ensure_perpetual_limits(instruments, spec)

    def insert(job_id: UUID, submission_id: UUID | None) -> Statement:
        request = spec.model_dump(mode="json")
        return backtests_repo.insert_statement(request, submission_id=submission_id, job_id=job_id)

    return ValidJob(spec, insert)


async def _valid_optimization(db: DbExecutor, body: bytes, numbers_checked: bool) -> ValidJob:
    instruments = InstrumentsRead(db)
    spec = await parse_body(
        body,
        OptimizationSpec,
        lambda parsed: prepared_backtest(instruments, parsed, ("backtest",)),
        numbers_checked=numbers_checked,
    )
    bars = await stored_bars(db, spec.backtest, prefix="backtest.")
    leverage, fields = spec.grid.get("leverage", []), list[str]()
    if spec.param_space is not None:
        leverage, fields = spec.sampled_leverage()
    await ensure_perpetual_limits(instruments, spec.backtest, "backtest.", leverage, fields)
    if spec.search is not None:
        sets, skipped = spec.search.trials, 0
    else:
        runs, skipped = spec.combinations()
        if not runs:
            raise Unprocessable.for_field(
                "param_grid", f"all {skipped} combinations break the strategy's own rule"
            )
        sets = len(runs)
    windows = None
    if spec.walk_forward is not None and spec.kind != "grid":
        try:
            windows = checked_window_count(bars, spec.walk_forward, sets)
        except WalkForwardRejected as exc:
            raise Unprocessable.for_field(exc.field, exc.message) from None
    total = progress_total(sets, windows)

    def insert(job_id: UUID, submission_id: UUID | None) -> Statement:
        request = spec.model_dump(mode="json")
        return optimizations_repo.insert_statement(
            spec.kind, request, total, skipped, submission_id=submission_id, job_id=job_id
        )

    return ValidJob(spec, insert)


async def _valid_backfill(db: DbExecutor, body: bytes, numbers_checked: bool) -> ValidJob:
    spec = await parse_body(body, BackfillSpec, numbers_checked=numbers_checked)

    def insert(job_id: UUID, submission_id: UUID | None) -> Statement:
        return backfills_repo.insert_statement(spec, submission_id=submission_id, job_id=job_id)

    return ValidJob(spec, insert)


@dataclass(frozen=True)
class JobForm:
    """How one kind of job is submitted: its collection (the URL's and the idempotency
    store's scope), its request model, its checks and how it is read back."""

    kind: JobKind
    scope: str
    model: type[BaseModel]
    validate: Callable[[DbExecutor, bytes, bool], Awaitable[ValidJob]]
    load: Callable[[DbExecutor, UUID], Awaitable[Any]]

    @property
    def table(self) -> JobTable:
        return JOB_TABLES[self.kind]

    def location(self, job_id: UUID) -> str:
        return f"/api/v1/{self.scope}/{job_id}"


JOB_FORMS: dict[JobKind, JobForm] = {
    "backtest": JobForm(
        "backtest", "backtests", BacktestSpec, _valid_backtest, backtests_repo.get_backtest
    ),
    "optimization": JobForm(
        "optimization",
        "optimizations",
        OptimizationSpec,
        _valid_optimization,
        optimizations_repo.get_optimization,
    ),
    "backfill": JobForm("backfill", "backfills", BackfillSpec, _valid_backfill, get_backfill),
}


@dataclass(frozen=True)
class SubmittedJob:
    form: JobForm
    submission: Submission
    status: JobStatus
    view: Any | None  # the job as `GET` shows it, when asked for

    @property
    def job_id(self) -> UUID:
        return self.submission.job_id

    @property
    def location(self) -> str:
        return self.form.location(self.submission.job_id)


async def submit_job(
    pool: asyncpg.Pool,
    kind: JobKind,
    body: bytes,
    *,
    key: str | None,
    key_field: str,
    submission_id: UUID | None = None,
    with_view: bool = True,
    numbers_checked: bool = False,
    before_commit: Callable[[], None] | None = None,
    commits: CommitGroups | None = None,
    reads: DbExecutor | None = None,
) -> SubmittedJob:
    """Validate `body` as a `kind` request and create its job, once per `key` (`key_field`
    names the key in a refusal); `submission_id` is recorded on the job for its events.
    Without `with_view` only the job's status is read back (a new job is `queued`). With
    `commits`, the job is committed with those created at the same moment (see
    commit_groups), else in a transaction of its own (told `before_commit`). The checks read
    through `reads` (shared reads, say), else the pool."""
    form = JOB_FORMS[kind]
    valid = await form.validate(reads or pool, body, numbers_checked)

    def insert(job_id: UUID) -> Statement:
        return valid.insert(job_id, submission_id)

    creation = Creation(form.scope, key, key_field, valid.spec, insert)
    if commits is not None:
        submission = await commits.create_once(creation)
    else:
        submission = await create_once(pool, creation, before_commit)
    view: Any | None = None
    status: JobStatus | None
    if with_view:
        view = await form.load(pool, submission.job_id)
        status = None if view is None else view.status
    elif submission.replayed:
        status = await job_status(pool, form.table, submission.job_id)
    else:
        status = "queued"
    if status is None:
        raise Conflict(
            f"the {kind} {submission.job_id} created with this {key_field} has been deleted since"
        )
    return SubmittedJob(form, submission, status, view)


async def post_job(request: web.Request, kind: JobKind) -> web.Response:
    """A job's `POST`: 202 with the job and where to follow it (`Idempotent-Replayed` when an
    earlier request with the same `Idempotency-Key` created it)."""
    key = idempotency_key(request)
    body = await read_body_bytes(request)
    submitting(request, kind)
    job = await submit_job(
        request.app[POOL],
        kind,
        body,
        key=key,
        key_field=HEADER,
        before_commit=lambda: commit_sent(request),
        reads=request.app[READS],
    )
    assert job.view is not None
    return accepted(job.view, job.location, job.submission.headers)
