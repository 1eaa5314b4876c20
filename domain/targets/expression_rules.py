"""Expression strategies over one candle series: rules evaluated vectorized, then positions.

Numbers are float64 arrays with NaN for a missing value, computed by the same numba
indicators as the built-ins (so a built-in and its definition agree to the bit); conditions
are polars Boolean series, whose nulls give the language's three-valued logic. Every
sub-expression is computed once per distinct form with its parameters filled in, so the
parameter sets of an optimization chunk share e.g. `sma(close, fast)` for each `fast`.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from domain.execution.settings import Direction
from numba import njit

from domain import indicators
from domain.market.candles import Candles
from domain.strategies.definitions import Definition
from domain.strategies.expressions import (
    Arithmetic,
    Call,
    Comparison,
    ComparisonOp,
    Logical,
    Negate,
    Node,
    Not,
    Number,
    Param,
    Series,
    window_value,
)
from domain.targets.signals import Targets

FloatArray = npt.NDArray[np.float64]
Value = FloatArray | float  # a series, or a constant (NaN when missing)
Params = Mapping[str, int | float]


@dataclass(frozen=True)
class PositionRules:
    """The four rules of a definition; an absent exit is "the entry no longer holds"."""

    long_entry: Node | None
    long_exit: Node | None
    short_entry: Node | None
    short_exit: Node | None

    @classmethod
    def of(cls, definition: Definition) -> "PositionRules":
        nodes = definition.rule_nodes()
        return cls(
            nodes.get("long_entry"),
            nodes.get("long_exit"),
            nodes.get("short_entry"),
            nodes.get("short_exit"),
        )


class RuleEvaluator:
    """Evaluates rule nodes over one candle series, reusing every sub-expression it computed."""

    def __init__(self, candles: Candles) -> None:
        self.candles = candles
        self.size = len(candles)
        self._numbers: dict[Node, Value] = {}
        self._conditions: dict[Node, pl.Series] = {}

    def targets(self, rules: PositionRules, params: Params, direction: Direction) -> Targets:
        """The target position per bar for one parameter set."""
        long_entry = self._rule(rules.long_entry, params, direction != "short_only")
        short_entry = self._rule(rules.short_entry, params, direction != "long_only")
        long_exit = self._exit(rules.long_exit, long_entry, params)
        short_exit = self._exit(rules.short_exit, short_entry, params)
        return _positions(long_entry, long_exit, short_entry, short_exit)

    def _rule(self, rule: Node | None, params: Params, allowed: bool) -> npt.NDArray[np.bool_]:
        if rule is None or not allowed:
            return np.zeros(self.size, np.bool_)
        return _holds(self.condition(fill_params(rule, params)))

    def _exit(
        self, rule: Node | None, entry: npt.NDArray[np.bool_], params: Params
    ) -> npt.NDArray[np.bool_]:
        if rule is None:
            return ~entry
        return _holds(self.condition(fill_params(rule, params)))

    def condition(self, node: Node) -> pl.Series:
        """A Boolean series, null where unknown; `node` has its parameters filled in."""
        cached = self._conditions.get(node)
        if cached is None:
            cached = self._compute_condition(node)
            self._conditions[node] = cached
        return cached

    def _compute_condition(self, node: Node) -> pl.Series:
        if isinstance(node, Comparison):
            return self._compare(node.op, self.number(node.left), self.number(node.right))
        if isinstance(node, Logical):
            parts = [self.condition(o) for o in node.operands]
            combined = parts[0]
            for part in parts[1:]:
                combined = combined & part if node.op == "and" else combined | part
            return combined
        if isinstance(node, Not):
            return ~self.condition(node.operand)
        if isinstance(node, Call) and node.function in ("crosses_above", "crosses_below"):
            a, b = node.args
            now, before = _CROSSINGS[node.function]
            earlier_a, earlier_b = (Call("shift", (x, Number(1.0))) for x in (a, b))
            return self.condition(
                Logical("and", (Comparison(now, a, b), Comparison(before, earlier_a, earlier_b)))
            )
        raise TypeError(f"not a condition: {node!r}")

    def _compare(self, op: str, left: Value, right: Value) -> pl.Series:
        a, b = self._series(left), self._series(right)
        with np.errstate(invalid="ignore"):
            values = _COMPARE[op](a, b)
        missing = np.flatnonzero(np.isnan(a) | np.isnan(b))
        result = pl.Series(values, dtype=pl.Boolean)
        return result.scatter(missing, None) if missing.size else result

    def _series(self, value: Value) -> FloatArray:
        if isinstance(value, float):
            return np.full(self.size, value)
        return value

    def number(self, node: Node) -> Value:
        """A float64 array (or a constant), NaN where missing; parameters filled in."""
        if isinstance(node, Number):
            return node.value
        if isinstance(node, Series):
            return np.asarray(getattr(self.candles, node.name), np.float64)
        cached = self._numbers.get(node)
        if cached is None:
            cached = self._compute_number(node)
            self._numbers[node] = cached
        return cached

    def _compute_number(self, node: Node) -> Value:
        if isinstance(node, Negate):
            return _finite(-_array_or_float(self.number(node.operand)))
        if isinstance(node, Arithmetic):
            return _arithmetic(node.op, self.number(node.left), self.number(node.right))
        if isinstance(node, Call):
            return self._call(node)
        raise TypeError(f"not a number: {node!r}")

    def _call(self, node: Node) -> Value:
        assert isinstance(node, Call)
        name, args = node.function, node.args
        if name == "macd":
            x, fast, slow = args
            return self.number(Arithmetic("-", Call("ema", (x, fast)), Call("ema", (x, slow))))
        if name == "macd_signal":
            x, fast, slow, signal = args
            return self.number(Call("ema", (Call("macd", (x, fast, slow)), signal)))
        if name == "atr":
            window = _window(args[0], 1)
            c = self.candles
            return indicators.atr(c.high, c.low, c.close, window)
        if name in _ELEMENTWISE:
            return _ELEMENTWISE[name](*(self.number(a) for a in args))
        values = self._series(self.number(args[0]))
        if name in ("shift", "change", "roc"):
            shifted = _shift(values, _window(args[1], 0))
            if name == "shift":
                return shifted
            if name == "change":
                return _arithmetic("-", values, shifted)
            return _arithmetic("-", _arithmetic("/", values, shifted), 1.0)
        return _per_finite_run(_WINDOWED[name], values, _window(args[1], 1))


def _holds(condition: pl.Series) -> npt.NDArray[np.bool_]:
    """Where a rule holds: an unknown counts as false (null-safe equality with true)."""
    return condition.eq_missing(True).to_numpy()


def fill_params(node: Node, params: Params) -> Node:
    """The node with each parameter replaced by its value: the key of a computed result."""
    if isinstance(node, Param):
        return Number(float(params[node.name]))
    if isinstance(node, Negate):
        return Negate(fill_params(node.operand, params))
    if isinstance(node, Not):
        return Not(fill_params(node.operand, params))
    if isinstance(node, Arithmetic):
        return Arithmetic(node.op, fill_params(node.left, params), fill_params(node.right, params))
    if isinstance(node, Comparison):
        return Comparison(node.op, fill_params(node.left, params), fill_params(node.right, params))
    if isinstance(node, Logical):
        return Logical(node.op, tuple(fill_params(o, params) for o in node.operands))
    if isinstance(node, Call):
        return Call(node.function, tuple(fill_params(a, params) for a in node.args))
    return node


def _window(node: Node, minimum: int) -> int:
    value = window_value(node, {}, minimum)
    if value is None:
        # The API checks windows at every parameter set it accepts; this is a guard.
        raise ValueError(f"window out of range: {node!r}")
    return value


def _array_or_float(value: Value) -> Value:
    return value if isinstance(value, float) else np.asarray(value)


def _finite(value: Value) -> Value:
    """Infinities (an overflow) are missing values too."""
    if isinstance(value, float):
        return value if np.isfinite(value) else float("nan")
    return np.where(np.isfinite(value), value, np.nan)


def _arithmetic(op: str, left: Value, right: Value) -> Value:
    with np.errstate(all="ignore"):
        if op == "+":
            result = np.add(left, right)
        elif op == "-":
            result = np.subtract(left, right)
        elif op == "*":
            result = np.multiply(left, right)
        else:
            result = np.divide(left, right)
            result = np.where(np.equal(right, 0.0), np.nan, result)
    if np.ndim(result) == 0:
        return _finite(float(result))
    return _finite(np.asarray(result, np.float64))


def _shift(x: FloatArray, k: int) -> FloatArray:
    if k == 0:
        return x
    out = np.full(x.size, np.nan)
    out[k:] = x[:-k]
    return out


def _per_finite_run(
    function: Callable[[FloatArray, int], FloatArray], x: FloatArray, window: int
) -> FloatArray:
    """`function` applied to each stretch of x without missing values: a window never spans
    a missing value, and after one each function starts over as at the first bar."""
    missing = np.isnan(x)
    if not missing.any():
        return function(x, window)
    out = np.full(x.size, np.nan)
    edges = np.flatnonzero(np.diff(np.concatenate(([True], missing, [True])).astype(np.int8)))
    for start, stop in zip(edges[::2], edges[1::2], strict=True):
        out[start:stop] = function(np.ascontiguousarray(x[start:stop]), window)
    return out


def _stdev(x: FloatArray, window: int) -> FloatArray:
    return indicators.rolling_population_std(x, indicators.sma(x, window), window)


_WINDOWED: dict[str, Callable[[FloatArray, int], FloatArray]] = {
    "sma": indicators.sma,
    "ema": indicators.ema,
    "rma": indicators.rma,
    "rsi": indicators.rsi,
    "stdev": _stdev,
    "highest": lambda x, n: indicators.rolling_extreme(x, n, take_max=True),
    "lowest": lambda x, n: indicators.rolling_extreme(x, n, take_max=False),
}


def _log(x: Value) -> Value:
    with np.errstate(all="ignore"):
        return _finite(np.where(np.greater(x, 0.0), np.log(np.maximum(x, 1e-300)), np.nan))


def _sqrt(x: Value) -> Value:
    with np.errstate(all="ignore"):
        return _finite(np.where(np.greater_equal(x, 0.0), np.sqrt(np.abs(x)), np.nan))


def _scalar_or_array(function: Callable[..., Any]) -> Callable[..., Value]:
    def apply(*values: Value) -> Value:
        result = function(*values)
        return float(result) if np.ndim(result) == 0 else np.asarray(result, np.float64)

    return apply


_ELEMENTWISE: dict[str, Callable[..., Value]] = {
    "abs": _scalar_or_array(np.abs),
    "min": _scalar_or_array(np.minimum),
    "max": _scalar_or_array(np.maximum),
    "log": _scalar_or_array(_log),
    "sqrt": _scalar_or_array(_sqrt),
}

_CROSSINGS: dict[str, tuple[ComparisonOp, ComparisonOp]] = {
    "crosses_above": (">", "<="),
    "crosses_below": ("<", ">="),
}

_COMPARE: dict[str, Callable[[FloatArray, FloatArray], npt.NDArray[np.bool_]]] = {
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
    "==": np.equal,
    "!=": np.not_equal,
}


@njit(cache=True)
def _positions(
    long_entry: npt.NDArray[np.bool_],
    long_exit: npt.NDArray[np.bool_],
    short_entry: npt.NDArray[np.bool_],
    short_exit: npt.NDArray[np.bool_],
) -> Targets:
    """Bar by bar from flat: exits first, then an entry that the other side does not share."""
    out = np.zeros(long_entry.size, np.int8)
    position = 0
    for t in range(long_entry.size):
        if (position == 1 and long_exit[t]) or (position == -1 and short_exit[t]):
            position = 0
        if long_entry[t] and not short_entry[t] and position != 1:
            position = 1
        elif short_entry[t] and not long_entry[t] and position != -1:
            position = -1
        out[t] = position
    return out
