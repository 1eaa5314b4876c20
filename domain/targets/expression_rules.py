"""Expression strategies over one candle series: rules evaluated vectorized, then positions.

Numbers are float64 arrays with NaN for a missing value, computed by the same numba
indicators as the built-ins (so a built-in and its definition agree to the bit); conditions
are three-valued truths per bar (domain/targets/truths.py), unknown where a value is
missing. Every number is computed once per distinct form with its parameters filled in, so
the parameter sets of an optimization chunk share e.g. `sma(close, fast)` for each `fast`;
a condition is kept when it has no parameters (the same for every set), and otherwise
computed for its set from the kept numbers. `htf(x, interval)` evaluates x by a second
evaluator over the longer bars (one per interval, kept), then spreads it over the bars that
may see it.
"""

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from domain import indicators
from domain.compiled_cache import njit
from domain.execution.settings import Direction
from domain.market.candles import Candles
from domain.market.perp_market import PerpMarket
from domain.strategies.definitions import Definition
from domain.strategies.expressions import (
    FUNCTIONS,
    FUNDING_SERIES,
    MARK_SERIES,
    TIME_SERIES,
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
    Text,
    Truth,
    constant_value,
    nodes,
)
from domain.targets import truths
from domain.targets.expression_functions import (
    CANDLE_FUNCTIONS,
    ELEMENTWISE,
    WINDOWED,
    FloatArray,
    Value,
    arithmetic,
    finite,
    per_finite_run,
    shift,
    time_series,
    window,
)
from domain.targets.higher_timeframe import LongerBars, aggregate
from domain.targets.signals import Targets
from domain.targets.truths import Truths

Params = Mapping[str, int | float]


@dataclass(frozen=True)
class PositionRules:
    """The four rules of a definition; an absent exit is "the entry no longer holds". `size`:
    the numeric rule of each entry's size, if given."""

    long_entry: Node | None
    long_exit: Node | None
    short_entry: Node | None
    short_exit: Node | None
    size: Node | None = None

    @classmethod
    def of(cls, definition: Definition) -> "PositionRules":
        nodes = definition.rule_nodes()
        return cls(
            nodes.get("long_entry"),
            nodes.get("long_exit"),
            nodes.get("short_entry"),
            nodes.get("short_exit"),
            nodes.get("size"),
        )


class RuleEvaluator:
    """Evaluates rule nodes over one candle series, reusing every sub-expression it computed.

    `interval` is the candles' (for `htf`); `market` a perpetual's mark price and funding on
    the same candles (for `mark_*` and `funding_rate`).
    """

    def __init__(
        self, candles: Candles, interval: str | None = None, market: PerpMarket | None = None
    ) -> None:
        self.candles = candles
        self.interval = interval
        self.market = market
        self.size = len(candles)
        self._numbers: dict[Node, Value] = {}
        self._truths: dict[Node, Truths] = {}
        self._longer: dict[str, tuple[LongerBars, RuleEvaluator]] = {}

    def targets(self, rules: PositionRules, params: Params, direction: Direction) -> Targets:
        """The target position per bar for one parameter set."""
        long_entry = self._rule(rules.long_entry, params, direction != "short_only")
        short_entry = self._rule(rules.short_entry, params, direction != "long_only")
        long_exit = self._exit(rules.long_exit, long_entry, params)
        short_exit = self._exit(rules.short_exit, short_entry, params)
        return _positions(long_entry, long_exit, short_entry, short_exit)

    def sizes(self, rules: PositionRules, params: Params) -> FloatArray | None:
        """The size rule per bar clipped to [0, 1] (missing: 0), or None without one."""
        if rules.size is None:
            return None
        value = self._series(self.number(fill_params(rules.size, params)))
        return np.clip(np.nan_to_num(value, nan=0.0), 0.0, 1.0)

    def _rule(self, rule: Node | None, params: Params, allowed: bool) -> npt.NDArray[np.bool_]:
        if rule is None or not allowed:
            return np.zeros(self.size, np.bool_)
        return truths.holds(self.truths(rule, params))

    def _exit(
        self, rule: Node | None, entry: npt.NDArray[np.bool_], params: Params
    ) -> npt.NDArray[np.bool_]:
        if rule is None:
            return ~entry
        return truths.holds(self.truths(rule, params))

    def condition(self, node: Node) -> pl.Series:
        """A Boolean series, null where unknown; `node` has its parameters filled in."""
        values = self.truths(node, {})
        series = pl.Series(truths.holds(values), dtype=pl.Boolean)
        unknown = np.flatnonzero(values == truths.UNKNOWN)
        return series.scatter(unknown, None) if unknown.size else series

    def truths(self, node: Node, params: Params) -> Truths:
        """The condition `node` at `params` per bar; kept if it has no parameters."""
        if any(isinstance(n, Param) for n in nodes(node)):
            return self._compute_truths(node, params)
        cached = self._truths.get(node)
        if cached is None:
            cached = self._compute_truths(node, {})
            self._truths[node] = cached
        return cached

    def _compute_truths(self, node: Node, params: Params) -> Truths:
        if isinstance(node, Truth):
            return truths.constant(truths.TRUE if node.value else truths.FALSE, self.size)
        if isinstance(node, Call) and node.function == "if_else":
            chosen, when_true, when_false = (self.truths(a, params) for a in node.args)
            return truths.chosen(chosen, when_true, when_false)
        if isinstance(node, Call) and node.function == "htf":
            longer, evaluator = self._longer_bars(node)
            values = evaluator.truths(node.args[0], params)
            if values.size == 0:
                return truths.constant(truths.UNKNOWN, self.size)
            spread = values[np.maximum(longer.seen, 0)]
            return np.where(longer.seen < 0, np.int8(truths.UNKNOWN), spread).astype(np.int8)
        if isinstance(node, Comparison):
            left, right = (self.number(fill_params(n, params)) for n in (node.left, node.right))
            return truths.compare(node.op, left, right, self.size)
        if isinstance(node, Logical):
            combine = truths.both if node.op == "and" else truths.either
            combined = self.truths(node.operands[0], params)
            for operand in node.operands[1:]:
                combined = combine(combined, self.truths(operand, params))
            return combined
        if isinstance(node, Not):
            return truths.negation(self.truths(node.operand, params))
        if isinstance(node, Call) and node.function in ("crosses_above", "crosses_below"):
            a, b = node.args
            now, before = _CROSSINGS[node.function]
            earlier_a, earlier_b = (Call("shift", (x, Number(1.0))) for x in (a, b))
            crossing = Logical(
                "and", (Comparison(now, a, b), Comparison(before, earlier_a, earlier_b))
            )
            return self.truths(crossing, params)
        raise TypeError(f"not a condition: {node!r}")

    def _series(self, value: Value) -> FloatArray:
        if isinstance(value, float):
            return np.full(self.size, value)
        return value

    def number(self, node: Node) -> Value:
        """A float64 array (or a constant), NaN where missing; parameters filled in."""
        if isinstance(node, Number):
            return node.value
        if isinstance(node, Series):
            return self._series_of(node.name)
        cached = self._numbers.get(node)
        if cached is None:
            cached = self._compute_number(node)
            self._numbers[node] = cached
        return cached

    def _series_of(self, name: str) -> FloatArray:
        if name in TIME_SERIES:
            return time_series(self.candles.open_time, name)
        if name == FUNDING_SERIES or name in MARK_SERIES:
            if self.market is None:
                # The API refuses these on spot; this is a guard.
                raise ValueError(f"{name} needs a perpetual's market")
            if name == FUNDING_SERIES:
                return self.market.funding_in_force_or_missing()
            if name == "mark_close":
                return self.market.mark_close_or(self.candles.close)
            return np.asarray(getattr(self.market, name), np.float64)
        return np.asarray(getattr(self.candles, name), np.float64)

    def _compute_number(self, node: Node) -> Value:
        if isinstance(node, Negate):
            return finite(-_array_or_float(self.number(node.operand)))
        if isinstance(node, Arithmetic):
            return arithmetic(node.op, self.number(node.left), self.number(node.right))
        if isinstance(node, Call):
            return self._call(node)
        raise TypeError(f"not a number: {node!r}")

    def _call(self, node: Call) -> Value:
        name, args = node.function, node.args
        if name == "macd":
            x, fast, slow = args
            fast_n, slow_n = window(fast, 1), window(slow, 1)
            return per_finite_run(
                lambda v, _: indicators.macd_line(v, fast_n, slow_n),
                self._series(self.number(x)),
                1,
            )
        if name == "macd_signal":
            x, fast, slow, signal = args
            return self.number(Call("ema", (Call("macd", (x, fast, slow)), signal)))
        if name == "if_else":
            chosen = self.truths(args[0], {})
            when_true, when_false = (self._series(self.number(a)) for a in args[1:])
            picked = np.where(truths.holds(chosen), when_true, when_false)
            return np.where(chosen == truths.UNKNOWN, np.nan, picked)
        if name == "htf":
            longer, evaluator = self._longer_bars(node)
            value = evaluator.number(args[0])
            return value if isinstance(value, float) else longer.spread(value)
        if name in CANDLE_FUNCTIONS:
            constants = [_constant(a) for a in args]
            return CANDLE_FUNCTIONS[name](self.candles, *constants)
        if name in ELEMENTWISE:
            return ELEMENTWISE[name](*(self.number(a) for a in args))
        values = self._series(self.number(args[0]))
        if name in ("shift", "change", "roc"):
            shifted = shift(values, window(args[1], 0))
            if name == "shift":
                return shifted
            if name == "change":
                return arithmetic("-", values, shifted)
            return arithmetic("-", arithmetic("/", values, shifted), 1.0)
        if name in ("bb_upper", "bb_lower"):
            k = _constant(args[2])
            middle = self._series(self.number(Call("sma", args[:2])))
            width = self._series(self.number(Call("stdev", args[:2])))
            sign = 1.0 if name == "bb_upper" else -1.0
            return arithmetic("+", middle, arithmetic("*", width, sign * k))
        return per_finite_run(WINDOWED[name], values, window(args[1], FUNCTIONS[name].min_window))

    def _longer_bars(self, node: Call) -> "tuple[LongerBars, RuleEvaluator]":
        longer = node.args[1]
        assert isinstance(longer, Text)
        if longer.value not in self._longer:
            if self.interval is None:
                raise ValueError("htf needs the candles' interval")
            bars = aggregate(self.candles, self.market, self.interval, longer.value)
            evaluator = RuleEvaluator(bars.candles, longer.value, bars.market)
            self._longer[longer.value] = (bars, evaluator)
        return self._longer[longer.value]


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


def _constant(node: Node) -> float:
    """A constant argument with its parameters filled in."""
    value = constant_value(node, {})
    if value is None:
        raise ValueError(f"not a constant: {node!r}")
    return value


def _array_or_float(value: Value) -> Value:
    return value if isinstance(value, float) else np.asarray(value)


_CROSSINGS: dict[str, tuple[ComparisonOp, ComparisonOp]] = {
    "crosses_above": (">", "<="),
    "crosses_below": ("<", ">="),
}


@njit(cache=True)
def _positions(
    long_entry: npt.NDArray[np.bool_],
    long_exit: npt.NDArray[np.bool_],
    short_entry: npt.NDArray[np.bool_],
    short_exit: npt.NDArray[np.bool_],
) -> Targets:
    """Bar by bar from flat: exits first, then an entry that the other side does not share.

    Where one side alone enters, the position is that side whatever it was; elsewhere it is
    flat unless a position may be kept (an exit that does not hold). Without such a bar
    (every omitted exit: the entry no longer holds) the wanted side is the position, in a
    pass that vectorizes; else the steps follow bar by bar.
    """
    out = np.empty(long_entry.size, np.int8)
    keeping = 0
    for t in range(long_entry.size):
        wanted = np.int8(long_entry[t]) - np.int8(short_entry[t])
        out[t] = wanted
        keeping += (wanted == 0) & ((not long_exit[t]) | (not short_exit[t]))
    if keeping == 0:
        return out
    position = 0
    for t in range(long_entry.size):
        if out[t] != 0:
            position = out[t]
        elif (position == 1 and long_exit[t]) or (position == -1 and short_exit[t]):
            position = 0
        out[t] = position
    return out
