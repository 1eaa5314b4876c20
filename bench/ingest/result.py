"""What one scenario of the ingest benchmark measured, for the run and the report."""

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class IngestResult:
    scenario: str
    title: str
    target: str
    target_cps: float
    requests_per_second: float
    pages_in_flight: int
    pages_per_commit: int
    jobs: int
    candles_expected: int
    rows: int
    pages: int
    seconds: float
    candles_per_second: float
    sustained_median_cps: float  # over 5-second windows
    sustained_worst_cps: float
    completed: bool
    errors: str
    sim_requests: int
    sim_403: int
    sim_bans: int
    peak_rss_mb: dict[str, float]
    cpu_cores: dict[str, float]  # average cores used while the jobs ran
    # CPU seconds per million candles: unlike the rate, hardly moved by a noisy neighbour.
    cpu_seconds_per_million: dict[str, float]

    @property
    def passed(self) -> bool:
        return (
            self.completed
            and not self.errors
            and self.sim_403 == 0
            and self.candles_per_second >= self.target_cps
        )

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}
