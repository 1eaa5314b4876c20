"""An optimization's stored request parsed once per worker, in the event loop, into what its
chunks need in the pool (the domain's types, pickled); the pool never validates it again."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from domain.execution.config import BacktestConfig
from domain.portfolio_backtest import PortfolioRules
from domain.research.robustness import DEFAULT_BLOCKS
from services.engine.backtests.parsed_request import portfolio_rules
from shared.backtest_spec import BacktestSpec
from shared.jobs import JobRejected
from shared.optimization_spec import OptimizationSpec


@dataclass(frozen=True)
class ParsedOptimization:
    """What a chunk's parameter sets are evaluated with: the backtest's config (each set's
    parameters and backtest fields go in its place), its warm-up rule, the statistics' blocks
    and the objective."""

    config: BacktestConfig
    warmup_bars: int | Literal["auto"]
    robustness_blocks: int
    objective: str
    portfolio: PortfolioRules | None = None  # a set may vary `max_positions`

    @classmethod
    def of(
        cls,
        backtest: BacktestSpec,
        robustness_blocks: int = DEFAULT_BLOCKS,
        objective: str = "sharpe",
    ) -> "ParsedOptimization":
        """An optimization of `backtest`, validated."""
        portfolio = portfolio_rules(backtest.portfolio)
        config = backtest.config()
        return cls(config, backtest.warmup_bars, robustness_blocks, objective, portfolio)


def parse_optimization(request: Mapping[str, Any]) -> tuple[OptimizationSpec, ParsedOptimization]:
    """The stored request as the consumer plans and loads by, and as the pool runs it;
    JobRejected naming what is wrong."""
    try:
        spec = OptimizationSpec.model_validate(request)
        return spec, ParsedOptimization.of(spec.backtest, spec.robustness_blocks, spec.objective)
    except ValueError as exc:  # a ValidationError, or a strategy this engine cannot resolve
        raise JobRejected(f"invalid request: {exc}") from None
