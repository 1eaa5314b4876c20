"""Jobs submitted over RabbitMQ by message-queue producers, and the answers they get.

A producer publishes `SubmitBacktest`, `SubmitOptimization` or `SubmitBackfill` to the submit
exchange; `request` is exactly the body of the matching `POST` (validated by the same models
when the API creates the job). With `reply_to` set, the answer is a `SubmissionAccepted` (the
job) or a `SubmissionRejected` (the HTTP error shape), under the same `correlation_id`.
"""

from typing import Any, ClassVar, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from shared.jobs import JobKind, JobStatus
from shared.messages import Message, message_type

# The only envelope version there is; a message of another version is rejected, not guessed at.
SUBMISSION_VERSION = 1
# A submission's body, like an HTTP request body, is at most this many bytes.
MAX_SUBMISSION_BYTES = 1024**2


class SubmitJob(Message):
    """A job to create; its `id` is the idempotency key (the same id again creates nothing)."""

    version: Literal[1] = 1
    id: UUID = Field(description="the idempotency key: the same id again creates nothing new")
    request: Any = Field(description="exactly the body of the matching POST")

    kind: ClassVar[JobKind]


class SubmitBacktest(SubmitJob):
    type: Literal["SubmitBacktest"] = "SubmitBacktest"
    kind = "backtest"


class SubmitOptimization(SubmitJob):
    type: Literal["SubmitOptimization"] = "SubmitOptimization"
    kind = "optimization"


class SubmitBackfill(SubmitJob):
    type: Literal["SubmitBackfill"] = "SubmitBackfill"
    kind = "backfill"


SUBMISSIONS: tuple[type[SubmitJob], ...] = (SubmitBacktest, SubmitOptimization, SubmitBackfill)
SUBMISSION_TYPES: dict[str, type[SubmitJob]] = {message_type(m): m for m in SUBMISSIONS}


class ErrorDetail(BaseModel):
    field: str | None = None
    message: str


class ErrorBody(BaseModel):
    """The error of an HTTP error response, and of a rejected submission."""

    code: str
    message: str
    details: list[ErrorDetail]


class JobRef(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: JobKind
    id: UUID
    status: JobStatus
    location: str = Field(description="the job's URL path on the REST API")


class SubmissionAccepted(Message):
    """The job the submission created (or, for an `id` seen before, the job it created then)."""

    type: Literal["SubmissionAccepted"] = "SubmissionAccepted"
    id: UUID = Field(description="the submission's id")
    job: JobRef


class SubmissionRejected(Message):
    """Why the submission created nothing: the error a `POST` of the same body would answer."""

    type: Literal["SubmissionRejected"] = "SubmissionRejected"
    id: UUID | None = Field(  # type: ignore[assignment]
        description="the submission's id; null if it had none readable"
    )
    error: ErrorBody


REPLIES: tuple[type[Message], ...] = (SubmissionAccepted, SubmissionRejected)
