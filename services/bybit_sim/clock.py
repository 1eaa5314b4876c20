"""The simulated exchange's clock: real time, optionally shifted and sped up."""

import time
from collections.abc import Callable


class SimClock:
    """Sim time = start_ms + elapsed real time x speed; `monotonic` is injectable for tests."""

    def __init__(
        self,
        start_ms: int | None = None,
        speed: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._monotonic = monotonic
        self._origin = monotonic()
        self.start_ms = int(time.time() * 1000) if start_ms is None else start_ms
        self.speed = speed

    def now_ms(self) -> int:
        return self.start_ms + int((self._monotonic() - self._origin) * 1000 * self.speed)

    def sim_ms_to_real_seconds(self, sim_ms: float) -> float:
        return sim_ms / 1000 / self.speed
