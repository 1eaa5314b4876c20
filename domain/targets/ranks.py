"""A portfolio's `rank` rule: a numeric rule of the expression language over one symbol's
candles and the strategy's parameters, higher first (docs/simulation.md, "Portfolios")."""

from collections.abc import Mapping
from typing import Literal

import numpy as np
import numpy.typing as npt

from domain.market.candles import Candles
from domain.market.perp_market import PerpMarket
from domain.strategies.entry import StrategyEntry
from domain.strategies.expressions import Node, Scope, parse_rule
from domain.targets.expression_rules import RuleEvaluator, fill_params


def parse_rank(text: str, entry: StrategyEntry) -> Node:
    """`rank` as a numeric rule over the candles' series and `entry`'s parameters, or
    ExpressionError at field `rank`."""
    param_types: dict[str, Literal["int", "float"]] = {
        p.name: "int" if p.type is int else "float" for p in entry.params
    }
    return parse_rule(text, "rank", Scope(param_types), "number")


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
