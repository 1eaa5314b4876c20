"""Injected failures, decided by a seeded RNG so a run can be replayed."""

import random
from enum import Enum

from pydantic import BaseModel, Field

from services.bybit_sim.settings import SimSettings


class Fault(Enum):
    DISCONNECT = "disconnect"
    HTTP_502 = "502"
    TOO_MANY_VISITS = "10006"


class FaultSettings(BaseModel):
    """What POST /sim/faults may change at run time (fields left out keep their value)."""

    fault_10006_rate: float | None = Field(default=None, ge=0, le=1)
    fault_10006_reset_ms: int | None = Field(default=None, ge=0)
    fault_502_rate: float | None = Field(default=None, ge=0, le=1)
    fault_disconnect_rate: float | None = Field(default=None, ge=0, le=1)
    latency_ms: float | None = Field(default=None, ge=0)
    rate_limit_enabled: bool | None = None


class Faults:
    def __init__(self, settings: SimSettings) -> None:
        self._rng = random.Random(settings.seed)
        self.rate_10006 = settings.fault_10006_rate
        self.reset_ms_10006 = settings.fault_10006_reset_ms
        self.rate_502 = settings.fault_502_rate
        self.rate_disconnect = settings.fault_disconnect_rate
        self.latency_ms = settings.latency_ms
        self.rate_limit_enabled = settings.rate_limit_enabled

    def update(self, change: FaultSettings) -> None:
        for name, attr in _FIELD_TO_ATTR.items():
            value = getattr(change, name)
            if value is not None:
                setattr(self, attr, value)

    def snapshot(self) -> dict[str, object]:
        return {name: getattr(self, attr) for name, attr in _FIELD_TO_ATTR.items()}

    def draw(self) -> Fault | None:
        """At most one fault for one request; one RNG draw per request keeps replays exact."""
        roll = self._rng.random()
        for fault, rate in (
            (Fault.DISCONNECT, self.rate_disconnect),
            (Fault.HTTP_502, self.rate_502),
            (Fault.TOO_MANY_VISITS, self.rate_10006),
        ):
            if roll < rate:
                return fault
            roll -= rate
        return None


_FIELD_TO_ATTR = {
    "fault_10006_rate": "rate_10006",
    "fault_10006_reset_ms": "reset_ms_10006",
    "fault_502_rate": "rate_502",
    "fault_disconnect_rate": "rate_disconnect",
    "latency_ms": "latency_ms",
    "rate_limit_enabled": "rate_limit_enabled",
}
