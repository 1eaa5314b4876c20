"""The API benchmark's scenarios and what one of them measured, for the run and the report."""

from dataclasses import asdict, dataclass
from typing import Any

from bench.api.load_generator import LoadSummary


@dataclass(frozen=True)
class Scenario:
    name: str
    method: str
    target_rps: float
    target_p99_ms: float | None
    target: str
    expected_status: str

    def path(self, backtest_id: str) -> str:
        return f"/api/v1/backtests/{backtest_id}" if self.method == "GET" else "/api/v1/backtests"


SCENARIOS = {
    s.name: s
    for s in (
        Scenario("get", "GET", 3000, 20.0, ">= 3,000 req/s with p99 < 20 ms", "200"),
        Scenario("post", "POST", 1000, None, ">= 1,000 submissions/s", "202"),
    )
}


@dataclass(frozen=True)
class ApiResult:
    scenario: str
    request: str
    connections: int
    target: str
    summary: LoadSummary
    cpu_cores: dict[str, float]  # average cores used during the load, by process

    @property
    def passed(self) -> bool:
        s, scenario = self.summary, SCENARIOS[self.scenario]
        return (
            s.errors == 0
            and s.statuses == {scenario.expected_status: s.requests}
            and s.requests_per_second >= scenario.target_rps
            and (scenario.target_p99_ms is None or s.latency_ms["p99"] < scenario.target_p99_ms)
        )

    @property
    def cpu_ms_per_request(self) -> dict[str, float]:
        """CPU milliseconds each process spent per answer: steadier than the rate on a busy host."""
        rate = self.summary.requests_per_second
        return {
            name: round(share / rate * 1000, 3)
            for name, share in self.cpu_cores.items()
            if name != "machine_busy" and rate > 0
        }

    def as_dict(self) -> dict[str, Any]:
        per_request = {"cpu_ms_per_request": self.cpu_ms_per_request}
        return {**asdict(self), **per_request, "passed": self.passed}
