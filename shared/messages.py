"""Messages on the broker: pydantic models, JSON on the wire, the same class on both ends.

Commands are imperative (`RunBackfill`), events past tense (`BackfillCompleted`).
"""

from typing import Literal
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field


class Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    type: str
    version: int = 1
    # Unique per message; consumers use it (or the job id it carries) to make redelivery harmless.
    id: UUID = Field(default_factory=uuid4)


class RunBackfill(Message):
    type: Literal["RunBackfill"] = "RunBackfill"
    backfill_id: UUID


class BackfillCompleted(Message):
    type: Literal["BackfillCompleted"] = "BackfillCompleted"
    backfill_id: UUID
    rows: int


class BackfillFailed(Message):
    type: Literal["BackfillFailed"] = "BackfillFailed"
    backfill_id: UUID
    error: str


class RunBacktest(Message):
    type: Literal["RunBacktest"] = "RunBacktest"
    backtest_id: UUID


class BacktestCompleted(Message):
    type: Literal["BacktestCompleted"] = "BacktestCompleted"
    backtest_id: UUID


class BacktestFailed(Message):
    type: Literal["BacktestFailed"] = "BacktestFailed"
    backtest_id: UUID
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


class OptimizationCompleted(Message):
    type: Literal["OptimizationCompleted"] = "OptimizationCompleted"
    optimization_id: UUID


class OptimizationFailed(Message):
    type: Literal["OptimizationFailed"] = "OptimizationFailed"
    optimization_id: UUID
    error: str


COMMANDS: tuple[type[Message], ...] = (
    RunBackfill,
    RunBacktest,
    StartOptimization,
    RunOptimizationChunk,
)
EVENTS: tuple[type[Message], ...] = (
    BackfillCompleted,
    BackfillFailed,
    BacktestCompleted,
    BacktestFailed,
    OptimizationCompleted,
    OptimizationFailed,
)


def message_type(model: type[Message]) -> str:
    """The `type` a message class carries (its routing key and queue name)."""
    return str(model.model_fields["type"].default)
