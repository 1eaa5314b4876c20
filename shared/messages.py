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


COMMANDS: tuple[type[Message], ...] = (RunBackfill,)
EVENTS: tuple[type[Message], ...] = (BackfillCompleted, BackfillFailed)
