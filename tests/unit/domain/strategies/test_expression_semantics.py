"""The language's functions, missing values and position rules against slow, obvious versions
written from their definitions, on the GOOG sample of the `backtesting` package."""

import math
from collections.abc import Callable, Sequence

import numpy as np
import pytest
from backtesting.test import GOOG
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.market.candles import Candles
from domain.strategies.expressions import Comparison, Node, Scope, parse_rule
from domain.targets.expression_rules import PositionRules, RuleEvaluator, _positions

N = 400
_frame = GOOG.iloc[:N]
_o, _h, _l, _c, _v = (
    _frame[k].to_numpy(np.float64) for k in ("Open", "High", "Low", "Close", "Volume")
)
CANDLES = Candles(np.arange(N, dtype=np.int64), _o, _h, _l, _c, _v, np.zeros(N))
CLOSE, HIGH, LOW = (list(map(float, a)) for a in (CANDLES.close, CANDLES.high, CANDLES.low))
SCOPE = Scope({"n": "int"})
Floats = Sequence[float]
Bools = Sequence[bool]


def number(expression: str) -> np.ndarray:
    node = parse_rule(f"{expression} > 0", "long_entry", SCOPE)
    assert isinstance(node, Comparison)
    value = RuleEvaluator(CANDLES).number(node.left)
    return np.broadcast_to(value, (N,)).astype(np.float64)


def condition(expression: str) -> list[bool | None]:
    return RuleEvaluator(CANDLES).condition(parse_rule(expression, "long_entry", SCOPE)).to_list()


def slow_sma(x: Floats, n: int) -> list[float]:
    return [math.nan if t < n - 1 else sum(x[t - n + 1 : t + 1]) / n for t in range(len(x))]


def slow_smoothing(x: Floats, n: int, alpha: float) -> list[float]:
    out, first = [math.nan] * len(x), next(i for i, v in enumerate(x) if not math.isnan(v))
    if first + n - 1 < len(x):
        out[first + n - 1] = sum(x[first : first + n]) / n
        for t in range(first + n, len(x)):
            out[t] = alpha * x[t] + (1 - alpha) * out[t - 1]
    return out


def slow_rsi(x: Floats, n: int) -> list[float]:
    out = [math.nan] * len(x)
    changes = [x[t] - x[t - 1] for t in range(1, len(x))]
    gains = slow_smoothing([max(c, 0.0) for c in changes], n, 1 / n)
    losses = slow_smoothing([max(-c, 0.0) for c in changes], n, 1 / n)
    for t in range(1, len(x)):
        g, lo = gains[t - 1], losses[t - 1]
        out[t] = 100 * g / (g + lo) if g + lo else 50.0
    return out


def slow_window(x: Floats, n: int, reduce: Callable[[Floats], float]) -> list[float]:
    return [math.nan if t < n - 1 else reduce(x[t - n + 1 : t + 1]) for t in range(len(x))]


def slow_atr(n: int) -> list[float]:
    tr = [math.nan] + [
        max(HIGH[t] - LOW[t], abs(HIGH[t] - CLOSE[t - 1]), abs(LOW[t] - CLOSE[t - 1]))
        for t in range(1, N)
    ]
    return slow_smoothing(tr, n, 1 / n)


def shifted(x: Floats, k: int) -> list[float]:
    return [math.nan] * k + list(x[: len(x) - k])


def slow_macd(fast: int, slow: int) -> list[float]:
    fast_line = slow_smoothing(CLOSE, fast, 2 / (fast + 1))
    slow_line = slow_smoothing(CLOSE, slow, 2 / (slow + 1))
    return [a - b for a, b in zip(fast_line, slow_line, strict=True)]


REFERENCES: dict[str, Callable[[], Sequence[float]]] = {
    "sma(close, 7)": lambda: slow_sma(CLOSE, 7),
    "ema(close, 9)": lambda: slow_smoothing(CLOSE, 9, 2 / 10),
    "rma(close, 9)": lambda: slow_smoothing(CLOSE, 9, 1 / 9),
    "rsi(close, 14)": lambda: slow_rsi(CLOSE, 14),
    "stdev(close, 10)": lambda: slow_window(CLOSE, 10, lambda w: float(np.std(w))),
    "highest(high, 5)": lambda: slow_window(HIGH, 5, max),
    "lowest(low, 5)": lambda: slow_window(LOW, 5, min),
    "shift(close, 3)": lambda: shifted(CLOSE, 3),
    "change(close, 2)": lambda: [a - b for a, b in zip(CLOSE, shifted(CLOSE, 2), strict=True)],
    "roc(close, 2)": lambda: [a / b - 1 for a, b in zip(CLOSE, shifted(CLOSE, 2), strict=True)],
    "atr(14)": lambda: slow_atr(14),
    "macd(close, 5, 13)": lambda: [
        a - b
        for a, b in zip(
            slow_smoothing(CLOSE, 5, 2 / 6), slow_smoothing(CLOSE, 13, 2 / 14), strict=True
        )
    ],
    "macd_signal(close, 5, 13, 4)": lambda: slow_smoothing(
        [
            a - b
            for a, b in zip(
                slow_smoothing(CLOSE, 5, 2 / 6), slow_smoothing(CLOSE, 13, 2 / 14), strict=True
            )
        ],
        4,
        2 / 5,
    ),
    "sma(rsi(close, 5), 3)": lambda: [math.nan] * 5 + slow_sma(slow_rsi(CLOSE, 5)[5:], 3),
    "abs(open - close)": lambda: list(np.abs(CANDLES.open - CLOSE)),
    "min(open, close) - max(open, close)": lambda: list(
        np.minimum(CANDLES.open, CLOSE) - np.maximum(CANDLES.open, CLOSE)
    ),
    "log(close) + sqrt(close)": lambda: [math.log(c) + math.sqrt(c) for c in CLOSE],
}


@pytest.mark.parametrize("expression", sorted(REFERENCES))
def test_each_function_matches_its_definition(expression: str):
    np.testing.assert_allclose(number(expression), REFERENCES[expression](), rtol=1e-10, atol=1e-12)


def test_warm_up_is_unknown_so_not_does_not_fire():
    fired = condition("not (close > sma(close, 20))")
    assert fired[:19] == [None] * 19
    assert all(v is not None for v in fired[19:])


def test_kleene_logic_on_unknown():
    assert condition("close > sma(close, 20) or close > 0")[:19] == [True] * 19
    assert condition("close > sma(close, 20) and close < 0")[:19] == [False] * 19
    assert condition("close > sma(close, 20) and close > 0")[:19] == [None] * 19


def test_out_of_domain_values_are_missing():
    assert condition("close / (close - close) > 0") == [None] * N
    assert condition("log(0 - close) < 1 or sqrt(0 - close) > 1") == [None] * N
    assert condition("close * 1e308 * 10 > 0") == [None] * N


def test_crosses_above_is_strictly_from_at_or_below():
    fast, slow = np.asarray(number("sma(close, 3)")), np.asarray(number("sma(close, 8)"))
    got = condition("crosses_above(sma(close, 3), sma(close, 8))")

    def known(a: float, b: float, holds: bool) -> bool | None:
        return None if math.isnan(a) or math.isnan(b) else holds

    for t in range(N):
        now = known(fast[t], slow[t], fast[t] > slow[t])
        before = None if t == 0 else known(fast[t - 1], slow[t - 1], fast[t - 1] <= slow[t - 1])
        expected = False if False in (now, before) else None if None in (now, before) else True
        assert got[t] is expected, t
    assert sum(1 for v in got if v) > 3


def slow_positions(le: Bools, lx: Bools, se: Bools, sx: Bools) -> list[int]:
    position, out = 0, []
    for t in range(len(le)):
        if (position == 1 and lx[t]) or (position == -1 and sx[t]):
            position = 0
        if le[t] and not se[t] and position != 1:
            position = 1
        if se[t] and not le[t] and position != -1:
            position = -1
        out.append(position)
    return out


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.booleans(), st.booleans(), st.booleans()), max_size=60))
def test_position_rules_follow_the_steps(bars: list[tuple[bool, bool, bool, bool]]) -> None:
    columns = [np.array([b[i] for b in bars], np.bool_) for i in range(4)]
    lists = [c.tolist() for c in columns]
    assert _positions(*columns).tolist() == slow_positions(*lists)


def test_an_omitted_exit_leaves_when_the_entry_stops_holding():
    entry: Node = parse_rule("close > sma(close, 5)", "long_entry", SCOPE)
    targets = RuleEvaluator(CANDLES).targets(
        PositionRules(entry, None, None, None), {}, "long_only"
    )
    holds = np.asarray(condition("close > sma(close, 5)"), dtype=object)
    assert targets.tolist() == [1 if h else 0 for h in holds]


def test_direction_ignores_the_forbidden_entry():
    long_entry = parse_rule("close > sma(close, n)", "long_entry", SCOPE)
    short_entry = parse_rule("close < sma(close, n)", "short_entry", SCOPE)
    rules = PositionRules(long_entry, None, short_entry, None)
    evaluator = RuleEvaluator(CANDLES)
    both = evaluator.targets(rules, {"n": 10}, "long_short")
    assert set(both.tolist()) == {-1, 0, 1}
    assert evaluator.targets(rules, {"n": 10}, "long_only").tolist() == np.maximum(both, 0).tolist()
    assert (
        evaluator.targets(rules, {"n": 10}, "short_only").tolist() == np.minimum(both, 0).tolist()
    )
