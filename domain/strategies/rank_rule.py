"""A portfolio's `rank` rule, parsed: a numeric rule of the expression language over one
symbol's candles and the strategy's parameters (docs/simulation.md, "Portfolios"). Parsing
only, so the API checks it without loading the compiled code that evaluates it."""

from typing import Literal

from domain.strategies.entry import StrategyEntry
from domain.strategies.expressions import Node, Scope, parse_rule


def parse_rank(text: str, entry: StrategyEntry) -> Node:
    """`rank` as a numeric rule over the candles' series and `entry`'s parameters, or
    ExpressionError at field `rank`."""
    param_types: dict[str, Literal["int", "float"]] = {
        p.name: "int" if p.type is int else "float" for p in entry.params
    }
    return parse_rule(text, "rank", Scope(param_types), "number")
