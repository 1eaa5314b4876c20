"""The request's `walk_forward` block; its arithmetic is the domain's
(domain/optimization/walk_forward.py)."""

from pydantic import BaseModel, ConfigDict, Field

from domain.optimization.walk_forward import MIN_TEST_BARS, MIN_TRAIN_BARS


class WalkForward(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    train_bars: int = Field(ge=MIN_TRAIN_BARS, le=10_000_000)
    test_bars: int = Field(ge=MIN_TEST_BARS, le=10_000_000)
    anchored: bool = False
