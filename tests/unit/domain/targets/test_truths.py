"""Three-valued truths against polars' nulls, which conditions were before them: every
comparison with missing values, the logic's tables, and whole rules (crosses, and/or/not,
if_else, htf, warm-ups) with the positions they give, at several parameter sets."""

import itertools

import numpy as np
import polars as pl
import pytest
from backtesting.test import GOOG
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.market.candles import Candles
from domain.strategies.expressions import (
    Call,
    Comparison,
    ComparisonOp,
    Logical,
    Node,
    Not,
    Number,
    Scope,
    Truth,
    parse_rule,
)
from domain.targets import truths
from domain.targets.expression_rules import (
    PositionRules,
    RuleEvaluator,
    _positions,
    fill_params,
)

OPS: list[ComparisonOp] = ["<", "<=", ">", ">=", "==", "!="]
NUMPY_OPS = {
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
    "==": np.equal,
    "!=": np.not_equal,
}
SPECIAL = np.array([np.nan, -np.inf, -1.0, -0.0, 0.0, 1.0, np.inf])


def as_list(values: truths.Truths) -> list[bool | None]:
    return [None if v == truths.UNKNOWN else bool(v == truths.TRUE) for v in values]


def polars_compared(op: ComparisonOp, a: np.ndarray, b: np.ndarray) -> list[bool | None]:
    with np.errstate(invalid="ignore"):
        values = NUMPY_OPS[op](a, b)
    return [
        None if np.isnan(x) or np.isnan(y) else bool(v)
        for x, y, v in zip(a, b, values, strict=True)
    ]


@pytest.mark.parametrize("op", OPS)
def test_a_comparison_is_unknown_where_a_side_is_missing(op: ComparisonOp) -> None:
    a, b = (np.array(pair) for pair in zip(*itertools.product(SPECIAL, SPECIAL), strict=True))
    size = a.size
    assert as_list(truths.compare(op, a, b, size)) == polars_compared(op, a, b)
    for value in SPECIAL:
        constant = np.full(size, value)
        got_right = truths.compare(op, a, float(value), size)
        got_left = truths.compare(op, float(value), b, size)
        assert as_list(got_right) == polars_compared(op, a, constant)
        assert as_list(got_left) == polars_compared(op, constant, b)
        both = truths.compare(op, float(value), 1.0, size)
        assert as_list(both) == polars_compared(op, constant, np.ones(size))


def test_the_logic_is_kleenes_as_polars_nulls() -> None:
    values = [truths.FALSE, truths.UNKNOWN, truths.TRUE]
    nullable = [False, None, True]
    a, b, c = (
        np.array(column, np.int8)
        for column in zip(*itertools.product(values, repeat=3), strict=True)
    )
    p, q, r = (
        pl.Series(list(column), dtype=pl.Boolean)
        for column in zip(*itertools.product(nullable, repeat=3), strict=True)
    )
    assert as_list(truths.both(a, b)) == (p & q).to_list()
    assert as_list(truths.either(a, b)) == (p | q).to_list()
    assert as_list(truths.negation(a)) == (~p).to_list()
    picked = pl.select(pl.when(p).then(q).otherwise(r)).to_series()
    expected = [
        None if x is None else y for x, y in zip(p.to_list(), picked.to_list(), strict=True)
    ]
    assert as_list(truths.chosen(a, b, c)) == expected
    assert truths.holds(a).tolist() == p.fill_null(False).to_list()


N = 600
_frame = GOOG.iloc[:N]
_o, _h, _l, _c, _v = (
    _frame[k].to_numpy(np.float64) for k in ("Open", "High", "Low", "Close", "Volume")
)
CANDLES = Candles(np.arange(N, dtype=np.int64) * 3_600_000, _o, _h, _l, _c, _v, np.zeros(N))
SCOPE = Scope({"n": "int", "m": "int"})
PARAMS = [{"n": 3, "m": 20}, {"n": 10, "m": 20}, {"n": 25, "m": 4}]


CROSSINGS: dict[str, tuple[ComparisonOp, ComparisonOp]] = {
    "crosses_above": (">", "<="),
    "crosses_below": ("<", ">="),
}


def polars_condition(evaluator: RuleEvaluator, node: Node) -> pl.Series:
    """A condition column by column with polars nulls; `node` has its parameters filled in."""
    size = evaluator.size
    if isinstance(node, Truth):
        return pl.Series(np.full(size, node.value), dtype=pl.Boolean)
    if isinstance(node, Comparison):
        left, right = (evaluator.number(side) for side in (node.left, node.right))
        columns = [np.broadcast_to(np.asarray(v, np.float64), (size,)) for v in (left, right)]
        return pl.Series(polars_compared(node.op, *columns), dtype=pl.Boolean)
    if isinstance(node, Logical):
        parts = [polars_condition(evaluator, o) for o in node.operands]
        combined = parts[0]
        for part in parts[1:]:
            combined = combined & part if node.op == "and" else combined | part
        return combined
    if isinstance(node, Not):
        return ~polars_condition(evaluator, node.operand)
    assert isinstance(node, Call)
    if node.function == "htf":
        longer, inner = evaluator._longer_bars(node)
        values = polars_condition(inner, node.args[0]).gather(np.maximum(longer.seen, 0))
        return values.scatter(np.flatnonzero(longer.seen < 0), None)
    if node.function == "if_else":
        chosen, when_true, when_false = (polars_condition(evaluator, a) for a in node.args)
        picked = pl.select(pl.when(chosen).then(when_true).otherwise(when_false)).to_series()
        return pl.Series(
            [
                None if c is None else v
                for c, v in zip(chosen.to_list(), picked.to_list(), strict=True)
            ],
            dtype=pl.Boolean,
        )
    now, before = CROSSINGS[node.function]
    a, b = node.args
    earlier_a, earlier_b = (Call("shift", (x, Number(1.0))) for x in (a, b))
    crossing = Logical("and", (Comparison(now, a, b), Comparison(before, earlier_a, earlier_b)))
    return polars_condition(evaluator, crossing)


RULES = [
    "sma(close, n) > sma(close, m)",
    "crosses_above(ema(close, n), sma(close, m)) or crosses_below(close, sma(close, 30))",
    "not (close > sma(close, m)) and rsi(close, n) < 60",
    "(close > sma(close, 50) or close < open) and not (high - low > atr(n))",
    "if_else(close > sma(close, m), rsi(close, n) > 50, close < ema(close, 40))",
    "close / (close - close) > 0 or close > highest(close, n)",
    "true and (sma(close, n) >= sma(close, m) or false)",
    "shift(close, n) == close or sma(close, n) != sma(close, m)",
    'htf(close > sma(close, n), "240") or close < htf(sma(close, m), "D")',
]


@pytest.mark.parametrize("rule", RULES)
def test_a_rule_is_what_polars_nulls_made_it(rule: str) -> None:
    node = parse_rule(rule, "long_entry", SCOPE)
    evaluator = RuleEvaluator(CANDLES, "60")
    for params in PARAMS:
        expected = polars_condition(evaluator, fill_params(node, params)).to_list()
        assert as_list(evaluator.truths(node, params)) == expected
        assert evaluator.condition(fill_params(node, params)).to_list() == expected


def slow_positions(
    long_entry: list[bool], long_exit: list[bool], short_entry: list[bool], short_exit: list[bool]
) -> list[int]:
    position, out = 0, []
    for le, lx, se, sx in zip(long_entry, long_exit, short_entry, short_exit, strict=True):
        if (position == 1 and lx) or (position == -1 and sx):
            position = 0
        if le and not se and position != 1:
            position = 1
        elif se and not le and position != -1:
            position = -1
        out.append(position)
    return out


@pytest.mark.parametrize(("long_exit", "short_exit"), [(None, None), (3, None), (None, 5), (6, 7)])
def test_rules_give_the_positions_of_their_steps(
    long_exit: int | None, short_exit: int | None
) -> None:
    """Omitted exits (the positions follow the entries in one pass) and given ones."""
    parsed = [parse_rule(rule, "long_entry", SCOPE) for rule in RULES]
    evaluator = RuleEvaluator(CANDLES, "60")
    rules = PositionRules(
        parsed[0],
        None if long_exit is None else parsed[long_exit],
        parsed[1],
        None if short_exit is None else parsed[short_exit],
    )
    for params in PARAMS:
        columns = {}
        for name in ("long_entry", "long_exit", "short_entry", "short_exit"):
            rule = getattr(rules, name)
            if rule is not None:
                filled = fill_params(rule, params)
                columns[name] = polars_condition(evaluator, filled).fill_null(False).to_list()
        for name in ("long_exit", "short_exit"):
            entry = columns[name.replace("exit", "entry")]
            columns.setdefault(name, [not held for held in entry])
        expected = slow_positions(**columns)
        got = evaluator.targets(rules, params, "long_short")
        assert got.tolist() == expected
        assert len(set(expected)) == 3


RARELY = st.lists(st.sampled_from([False] * 7 + [True]), min_size=80, max_size=80)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.booleans()), max_size=80), RARELY, RARELY)
def test_positions_follow_the_steps_with_exits_near_the_omitted_ones(
    entries: list[tuple[bool, bool]], long_flips: list[bool], short_flips: list[bool]
) -> None:
    """Exits that are the entries' negation but at a few bars: the one pass where no bar may
    keep a position, the steps where one may."""
    long_entry, short_entry = ([e[i] for e in entries] for i in (0, 1))
    long_exit = [(not e) != f for e, f in zip(long_entry, long_flips, strict=False)]
    short_exit = [(not e) != f for e, f in zip(short_entry, short_flips, strict=False)]
    columns = [np.array(c, np.bool_) for c in (long_entry, long_exit, short_entry, short_exit)]
    expected = slow_positions(long_entry, long_exit, short_entry, short_exit)
    assert _positions(*columns).tolist() == expected


def test_kept_conditions_are_those_without_parameters() -> None:
    evaluator = RuleEvaluator(CANDLES)
    free = parse_rule("close > sma(close, 20)", "long_entry", SCOPE)
    with_params = parse_rule("close > sma(close, n) and close > sma(close, 20)", "x", SCOPE)
    evaluator.truths(with_params, PARAMS[0])
    evaluator.truths(with_params, PARAMS[1])
    assert list(evaluator._truths) == [free]
