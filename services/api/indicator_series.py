"""The series a strategy looks at, for the backtest page's chart: each indicator call in an
expression strategy's rules (a built-in's too: each built-in is such a definition), with its
parameters filled in, evaluated by the engine's own rule evaluator (so the line drawn is the
value the strategy saw), or a plugin's `indicators(candles, params)`. Price-scaled series go on
the candles; the others (oscillators, volume) in a pane below."""

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from domain.market.candles import Candles
from domain.strategies import ParamError, installed_strategies
from domain.strategies.definitions import Definition, definition_of, parse_definition
from domain.strategies.expressions import (
    Arithmetic,
    Call,
    Comparison,
    Logical,
    Negate,
    Node,
    Not,
    Number,
    Param,
    Series,
)
from domain.strategies.plugins import Plugin
from domain.targets.expression_rules import RuleEvaluator, fill_params
from domain.targets.plugin_targets import candles_frame

log = logging.getLogger(__name__)

Pane = Literal["price", "lower"]
# Functions whose value is on the scale of their input series (a moving average of a price
# is a price); `vwap` and the bands are prices whatever their arguments.
SAME_SCALE = frozenset({"sma", "ema", "rma", "wma", "hma", "highest", "lowest", "shift"})
PRICE_ALWAYS = frozenset({"vwap", "bb_upper", "bb_lower"})
PRICES = frozenset({"open", "high", "low", "close", "mark_open", "mark_high", "mark_low"})
PRICES_TOO = PRICES | {"mark_close"}
# Calls that are a condition or plain arithmetic, not an indicator to draw themselves.
NOT_DRAWN = frozenset({"crosses_above", "crosses_below", "abs", "min", "max", "log", "sqrt"})
NOT_DRAWN |= frozenset({"if_else", "floor", "ceil", "round", "shift"})


@dataclass(frozen=True)
class Indicator:
    name: str
    pane: Pane
    values: npt.NDArray[np.float64]


def text_of(node: Node) -> str:
    """A node as the language writes it: `sma(close, 10)`."""
    if isinstance(node, Number):
        return f"{node.value:g}"
    if isinstance(node, Series | Param):
        return node.name
    if isinstance(node, Negate):
        return f"-{text_of(node.operand)}"
    if isinstance(node, Arithmetic):
        return f"({text_of(node.left)} {node.op} {text_of(node.right)})"
    if isinstance(node, Call):
        return f"{node.function}({', '.join(text_of(a) for a in node.args)})"
    return type(node).__name__


def is_price(node: Node) -> bool:
    """Whether a numeric node is on the candles' price scale."""
    if isinstance(node, Series):
        return node.name in PRICES_TOO
    if isinstance(node, Call):
        if node.function in PRICE_ALWAYS:
            return True
        return node.function in SAME_SCALE and bool(node.args) and is_price(node.args[0])
    return False


def indicator_calls(node: Node) -> Iterator[Call]:
    """The outermost indicator calls of a rule (inside conditions and arithmetic)."""
    if isinstance(node, Call):
        if node.function not in NOT_DRAWN:
            yield node
            return
        for arg in node.args:
            yield from indicator_calls(arg)
    elif isinstance(node, Comparison | Arithmetic):
        yield from indicator_calls(node.left)
        yield from indicator_calls(node.right)
    elif isinstance(node, Logical):
        for operand in node.operands:
            yield from indicator_calls(operand)
    elif isinstance(node, Negate | Not):
        yield from indicator_calls(node.operand)


def expression_indicators(
    candles: Candles, definition: Definition, params: Mapping[str, int | float]
) -> list[Indicator]:
    """Each distinct indicator of the definition's rules, in the order the rules name them."""
    evaluator = RuleEvaluator(candles)
    seen: dict[Call, None] = {}
    for rule in definition.rule_nodes().values():
        for call in indicator_calls(rule):
            filled = fill_params(call, params)
            assert isinstance(filled, Call)
            seen.setdefault(filled)
    out = []
    for call in seen:
        value = evaluator.number(call)
        series = np.broadcast_to(np.asarray(value, dtype=np.float64), (len(candles),))
        out.append(Indicator(text_of(call), "price" if is_price(call) else "lower", series))
    return out


def plugin_indicators(
    plugin: Plugin, candles: Candles, params: Mapping[str, Any]
) -> list[Indicator]:
    """A plugin's own `indicators(candles, params)`: `{name: series}` of the candles' length;
    a series whose values stay within the candles' lows and highs goes on the price chart."""
    if plugin.indicators is None:
        return []
    answer = plugin.indicators(candles_frame(candles), dict(params))
    low, high = float(np.nanmin(candles.low)), float(np.nanmax(candles.high))
    out = []
    for name, series in dict(answer).items():
        values = np.asarray(series, dtype=np.float64)
        if values.shape != (len(candles),):
            raise ValueError(f"indicator {name} has {values.size} values for {len(candles)} bars")
        finite = values[np.isfinite(values)]
        inside = finite.size > 0 and low * 0.5 <= finite.min() and finite.max() <= high * 2
        out.append(Indicator(str(name), "price" if inside else "lower", values))
    return out


def strategy_lines(strategy: dict[str, Any], candles: Candles) -> list[Indicator]:
    """The indicators of a stored (resolved) strategy: an expression's or a built-in's calls,
    a plugin's own `indicators`; none for a strategy no longer installed or a plugin that fails."""
    params = strategy.get("params") or {}
    if strategy.get("definition") is not None:
        return expression_indicators(candles, parse_definition(strategy["definition"]), params)
    try:
        entry = installed_strategies().entry(strategy.get("name"), field="strategy.name")
    except ParamError:
        return []
    if entry.plugin is None:
        return expression_indicators(candles, definition_of(entry), params)
    try:
        return plugin_indicators(entry.plugin, candles, params)
    except Exception:  # user code: the chart goes without its lines
        log.exception("indicators of plugin %s failed", entry.name)
        return []
