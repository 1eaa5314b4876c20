"""A portfolio's `rank` rule evaluated: its value per bar of one symbol's candles, higher
first (docs/simulation.md, "Portfolios"); parsed by domain/strategies/rank_rule.py."""

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from domain.market.candles import Candles
from domain.market.perp_market import PerpMarket
from domain.strategies.expressions import Node
from domain.targets.expression_rules import RuleEvaluator, fill_params


def rank_values(
    rank: Node,
    candles: Candles,
    params: Mapping[str, int | float],
    interval: str | None = None,
    market: PerpMarket | None = None,
) -> npt.NDArray[np.float64]:
    """The rank per bar of `candles`, NaN where missing."""
    evaluator = RuleEvaluator(candles, interval, market)
    value = evaluator.number(fill_params(rank, params))
    if isinstance(value, float):
        return np.full(len(candles), value)
    return np.where(np.isfinite(value), value, np.nan)
