"""What the core needs of a request: a strategy with complete params, the interval and the
execution settings."""

from collections.abc import Mapping
from dataclasses import dataclass, field

from domain.execution.settings import ExecutionSettings
from domain.strategies import StrategyEntry, strategy_entry


@dataclass(frozen=True)
class BacktestConfig:
    """What the core needs of a request: a strategy with complete params.

    `entry` is the strategy as the request resolved it; without one, `strategy` names a
    built-in.
    """

    strategy: str
    params: Mapping[str, int | float]
    interval: str
    execution: ExecutionSettings = field(default_factory=ExecutionSettings)
    entry: StrategyEntry | None = None

    def strategy_entry(self) -> StrategyEntry:
        return self.entry if self.entry is not None else strategy_entry(self.strategy)
