"""What one run of the jobs benchmark measured, for the run and the report."""

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class JobsResult:
    workers: int
    jobs: int
    bars: int
    succeeded: int
    failed: int
    first_error: str
    seconds: float
    jobs_per_second: float
    submit_seconds: float  # to POST all of them
    median_queued_seconds: float | None
    median_run_seconds: float | None
    cpu_cores: dict[str, float]  # average cores used from the first submission to the last end
    cpu_ms_per_job: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
