"""Messages on the broker: pydantic models, JSON on the wire, the same class on both ends.

Commands are imperative (`RunBackfill`), events past tense (`BackfillCompleted`). Job events
go to the events topic exchange under `<kind>.<outcome>` (`backtest.succeeded`,
`optimization.failed`, `backfill.progress`, ...) and carry the job's summary, so a program that
binds a queue there never has to poll.
"""

from typing import Any, ClassVar, Literal
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field

from shared.jobs import JobKind, JobStatus


class Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    type: str
    version: int = 1
    # Unique per message; consumers use it (or the job id it carries) to make redelivery harmless.
    id: UUID = Field(default_factory=uuid4)


class JobEvent(Message):
    """Something that happened to a job. `submission_id` is the AMQP submission that created
    the job (null for a job created over HTTP)."""

    job_id: UUID
    submission_id: UUID | None = None
    kind: JobKind
    status: JobStatus

    # The routing key's last word: the outcome (`succeeded`, `failed`) or `progress`.
    outcome: ClassVar[str]

    @property
    def routing_key(self) -> str:
        return f"{self.kind}.{self.outcome}"


class RunBackfill(Message):
    type: Literal["RunBackfill"] = "RunBackfill"
    backfill_id: UUID


class BackfillCompleted(JobEvent):
    type: Literal["BackfillCompleted"] = "BackfillCompleted"
    kind: Literal["backfill"] = "backfill"
    status: Literal["succeeded"] = "succeeded"
    outcome = "succeeded"
    rows: int = Field(description="candles written")


class BackfillFailed(JobEvent):
    type: Literal["BackfillFailed"] = "BackfillFailed"
    kind: Literal["backfill"] = "backfill"
    status: Literal["failed"] = "failed"
    outcome = "failed"
    error: str


class RunBacktest(Message):
    type: Literal["RunBacktest"] = "RunBacktest"
    backtest_id: UUID


class BacktestCompleted(JobEvent):
    type: Literal["BacktestCompleted"] = "BacktestCompleted"
    kind: Literal["backtest"] = "backtest"
    status: Literal["succeeded"] = "succeeded"
    outcome = "succeeded"
    metrics: dict[str, float | int | None] = Field(description="the backtest's metrics")


class BacktestFailed(JobEvent):
    type: Literal["BacktestFailed"] = "BacktestFailed"
    kind: Literal["backtest"] = "backtest"
    status: Literal["failed"] = "failed"
    outcome = "failed"
    error: str


class StartOptimization(Message):
    """Plan an optimization into chunks of work that any engine worker can take."""

    type: Literal["StartOptimization"] = "StartOptimization"
    optimization_id: UUID


class RunOptimizationChunk(Message):
    """Evaluate one planned chunk of an optimization (optimization_chunks row)."""

    type: Literal["RunOptimizationChunk"] = "RunOptimizationChunk"
    optimization_id: UUID
    chunk: int


class OptimizationCompleted(JobEvent):
    type: Literal["OptimizationCompleted"] = "OptimizationCompleted"
    kind: Literal["optimization"] = "optimization"
    status: Literal["succeeded"] = "succeeded"
    outcome = "succeeded"
    best: dict[str, Any] | None = Field(description="the best parameters and their metrics")
    robustness: dict[str, Any] | None = Field(
        default=None, description="the research statistics of the search, when computed"
    )


class OptimizationFailed(JobEvent):
    type: Literal["OptimizationFailed"] = "OptimizationFailed"
    kind: Literal["optimization"] = "optimization"
    status: Literal["failed"] = "failed"
    outcome = "failed"
    error: str


class Progress(BaseModel):
    done: int | None
    total: int | None


class JobProgressed(JobEvent):
    """A queued or running job's state, published at most once a second while it changes."""

    type: Literal["JobProgressed"] = "JobProgressed"
    status: Literal["queued", "running"]
    outcome = "progress"
    progress: Progress | None = Field(description="work done of the total, where counted")


COMMANDS: tuple[type[Message], ...] = (
    RunBackfill,
    RunBacktest,
    StartOptimization,
    RunOptimizationChunk,
)
EVENTS: tuple[type[JobEvent], ...] = (
    BackfillCompleted,
    BackfillFailed,
    BacktestCompleted,
    BacktestFailed,
    OptimizationCompleted,
    OptimizationFailed,
)
# Events published as they happen, not through the outbox.
LIVE_EVENTS: tuple[type[JobEvent], ...] = (JobProgressed,)


def message_type(model: type[Message]) -> str:
    """The `type` a message class carries (its routing key and queue name)."""
    return str(model.model_fields["type"].default)


def event_routing_key(event_type: str) -> str:
    """The routing key of an outbox event (a job's end) from its type: `backtest.succeeded`..."""
    event = _EVENT_TYPES[event_type]
    return f"{event.model_fields['kind'].default}.{event.outcome}"


_EVENT_TYPES: dict[str, type[JobEvent]] = {
    message_type(event): event for event in EVENTS if issubclass(event, JobEvent)
}
