"""A stored backtest request parsed once, in the event loop, into what the pool needs.

The consumer validates the request (`BacktestSpec`) and turns it into the domain's config and
the few facts beside it; the pool receives that record pickled and never validates again. A
plugin strategy crosses by name and digest (`Plugin.__reduce__`): the pool process runs its
own import of the same file.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from domain.execution.config import BacktestConfig
from domain.portfolio_backtest import PortfolioRules
from services.engine.provenance import strategy_sha256
from shared.backtest_spec import BacktestSpec, request_warnings
from shared.jobs import JobRejected
from shared.portfolio_spec import PortfolioSpec


@dataclass(frozen=True)
class MonteCarloAsk:
    runs: int
    seed: int


@dataclass(frozen=True)
class ParsedBacktest:
    """What a backtest's pool-side run needs of its request, in the domain's types."""

    config: BacktestConfig
    symbol: str  # a portfolio's first symbol
    start_ms: int
    end_ms: int
    warmup_asked: int  # stored bars asked before the start (`warmup_bars`, "auto" resolved)
    strategy_sha256: str  # for the provenance (services/engine/provenance.py)
    warnings: tuple[str, ...]  # what the request accepted may still have wrong
    monte_carlo: MonteCarloAsk | None = None
    portfolio: PortfolioRules | None = None  # None: one symbol

    @property
    def interval(self) -> str:
        return self.config.interval

    @property
    def entry_order(self) -> str:
        """The trades' `entry_order` column."""
        return "market" if self.config.execution.entry_order is None else "limit"

    @classmethod
    def of(cls, spec: BacktestSpec, request: Mapping[str, Any]) -> "ParsedBacktest":
        """`spec`, validated from the stored `request`."""
        asked = spec.monte_carlo
        return cls(
            config=spec.config(),
            symbol=spec.symbol,
            start_ms=spec.start_ms,
            end_ms=spec.end_ms,
            warmup_asked=spec.warmup_bars_asked,
            strategy_sha256=strategy_sha256(spec.strategy),
            warnings=tuple(request_warnings(request)),
            monte_carlo=None if asked is None else MonteCarloAsk(asked.runs, asked.seed),
            portfolio=portfolio_rules(spec.portfolio),
        )


def portfolio_rules(portfolio: PortfolioSpec | None) -> PortfolioRules | None:
    """A request's `portfolio` block in the domain's terms (None: one symbol)."""
    if portfolio is None:
        return None
    assert portfolio.max_positions is not None  # filled in from `symbols`
    every = None if portfolio.rebalance is None else portfolio.rebalance.every
    return PortfolioRules(portfolio.max_positions, portfolio.rank, every)


def parse_backtest(request: Mapping[str, Any]) -> tuple[BacktestSpec, ParsedBacktest]:
    """The stored request as the consumer loads by (`BacktestSpec`) and as the pool runs it;
    JobRejected naming what is wrong, so a bad request fails its job once."""
    try:
        spec = BacktestSpec.model_validate(request)
        return spec, ParsedBacktest.of(spec, request)
    except ValueError as exc:  # a ValidationError, or a strategy this engine cannot resolve
        raise JobRejected(f"invalid request: {exc}") from None
