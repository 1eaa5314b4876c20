"""The functions of "More of the language" without a TA-Lib twin, against slow, obvious loops
written from their definitions (docs/strategies.md), on the GOOG sample."""

import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import numpy as np
import pytest
from backtesting.test import GOOG

from domain.market.candles import Candles
from domain.strategies.expressions import Comparison, Scope, parse_rule
from domain.targets.expression_rules import RuleEvaluator, fill_params

N = 600
_frame = GOOG.iloc[:N]
_o, _h, _l, _c, _v = (
    _frame[k].to_numpy(np.float64) for k in ("Open", "High", "Low", "Close", "Volume")
)
# Hourly bars from 2024-02-26 21:00 UTC (a Monday), so hours, days and months turn over.
START = int(datetime(2024, 2, 26, 21, tzinfo=UTC).timestamp() * 1000)
TIMES = START + np.arange(N, dtype=np.int64) * 3_600_000
CANDLES = Candles(TIMES, _o, _h, _l, _c, _v, np.zeros(N))
OPEN, H, L, C, V = (list(map(float, a)) for a in (_o, _h, _l, _c, _v))
Floats = Sequence[float]
NAN = math.nan


def number(expression: str) -> np.ndarray:
    node = parse_rule(f"{expression} > -1e300", "long_entry", Scope({"n": "int"}))
    assert isinstance(node, Comparison)
    value = RuleEvaluator(CANDLES, "60").number(node.left)
    return np.broadcast_to(value, (N,)).astype(np.float64)


def slow_wma(x: Floats, n: int) -> list[float]:
    out = [NAN] * len(x)
    weights = range(1, n + 1)
    for t in range(len(x)):
        window = x[t - n + 1 : t + 1] if t >= n - 1 else []
        if len(window) == n and not any(math.isnan(v) for v in window):
            out[t] = sum(w * v for w, v in zip(weights, window, strict=True)) / sum(weights)
    return out


def slow_hma(x: Floats, n: int) -> list[float]:
    inner = [2 * a - b for a, b in zip(slow_wma(x, n // 2), slow_wma(x, n), strict=True)]
    return slow_wma(inner, math.isqrt(n))


def slow_zscore(x: Floats, n: int) -> list[float]:
    out = [NAN] * len(x)
    for t in range(n - 1, len(x)):
        window = x[t - n + 1 : t + 1]
        mean = sum(window) / n
        sd = math.sqrt(sum((v - mean) ** 2 for v in window) / n)
        out[t] = NAN if sd == 0 else (x[t] - mean) / sd
    return out


def slow_percent_rank(x: Floats, n: int) -> list[float]:
    return [NAN if t < n else sum(1 for v in x[t - n : t] if v < x[t]) / n for t in range(len(x))]


def slow_vwap(n: int) -> list[float]:
    out = [NAN] * N
    for t in range(n - 1, N):
        bars = range(t - n + 1, t + 1)
        volume = sum(V[i] for i in bars)
        out[t] = sum((H[i] + L[i] + C[i]) / 3 * V[i] for i in bars) / volume
    return out


def slow_atr(n: int) -> list[float]:
    tr = [NAN] + [max(H[t] - L[t], abs(H[t] - C[t - 1]), abs(L[t] - C[t - 1])) for t in range(1, N)]
    out = [NAN] * N
    out[n] = sum(tr[1 : n + 1]) / n
    for t in range(n + 1, N):
        out[t] = (out[t - 1] * (n - 1) + tr[t]) / n
    return out


def pine_supertrend(factor: float, n: int) -> list[float]:
    """TradingView's `ta.supertrend` as its manual writes it in Pine, on the language's
    atr(n); the direction with its sign flipped (+1 up)."""
    atr = slow_atr(n)
    out = [NAN] * N
    upper_prev = lower_prev = trend_prev = NAN
    for t in range(N):
        if math.isnan(atr[t]):
            continue
        hl2 = (H[t] + L[t]) / 2
        upper, lower = hl2 + factor * atr[t], hl2 - factor * atr[t]
        prev_lower = 0.0 if math.isnan(lower_prev) else lower_prev
        prev_upper = 0.0 if math.isnan(upper_prev) else upper_prev
        lower = lower if lower > prev_lower or C[t - 1] < prev_lower else prev_lower
        upper = upper if upper < prev_upper or C[t - 1] > prev_upper else prev_upper
        if math.isnan(atr[t - 1]):
            direction = 1
        elif trend_prev == prev_upper:
            direction = -1 if C[t] > upper else 1
        else:
            direction = 1 if C[t] < lower else -1
        trend_prev = lower if direction == -1 else upper
        upper_prev, lower_prev = upper, lower
        out[t] = -direction
    return out


def utc(t: int) -> datetime:
    return datetime.fromtimestamp(t / 1000, UTC)


def half_away(v: float) -> float:
    return math.copysign(math.floor(abs(v) + 0.5), v)


REFERENCES: dict[str, Callable[[], Floats]] = {
    "hma(close, 16)": lambda: slow_hma(C, 16),
    "hma(close, 5)": lambda: slow_hma(C, 5),
    "zscore(close, 20)": lambda: slow_zscore(C, 20),
    "percent_rank(close, 10)": lambda: slow_percent_rank(C, 10),
    "vwap(20)": lambda: slow_vwap(20),
    "supertrend(10, 3)": lambda: pine_supertrend(3.0, 10),
    "supertrend(7, 1.5)": lambda: pine_supertrend(1.5, 7),
    "if_else(close > open, high, low)": lambda: [
        h if c > o else lo for o, h, lo, c in zip(OPEN, H, L, C, strict=True)
    ],
    "floor(close / 7)": lambda: [math.floor(c / 7) for c in C],
    "ceil(close / 7)": lambda: [math.ceil(c / 7) for c in C],
    "round(close / 7)": lambda: [half_away(c / 7) for c in C],
    "round(0 - close / 7)": lambda: [half_away(-c / 7) for c in C],
    "hour": lambda: [utc(int(t)).hour for t in TIMES],
    "minute": lambda: [utc(int(t)).minute for t in TIMES],
    "weekday": lambda: [utc(int(t)).weekday() for t in TIMES],
    "day": lambda: [utc(int(t)).day for t in TIMES],
    "month": lambda: [utc(int(t)).month for t in TIMES],
}


@pytest.mark.parametrize("expression", sorted(REFERENCES))
def test_each_function_matches_its_definition(expression: str) -> None:
    np.testing.assert_allclose(number(expression), REFERENCES[expression](), rtol=1e-10, atol=1e-12)


def test_round_halves_away_from_zero() -> None:
    values = [0.5, 1.5, 2.5, -0.5, -2.5, 0.49999999999999994]
    x = np.array(values)
    candles = Candles(np.arange(6, dtype=np.int64), x, x, x, x, np.ones(6), np.ones(6))
    node = parse_rule("round(close) > 0", "long_entry", Scope({}))
    assert isinstance(node, Comparison)
    got = RuleEvaluator(candles).number(node.left)
    assert list(np.asarray(got)) == [1.0, 2.0, 3.0, -1.0, -3.0, 0.0]


def test_if_else_is_missing_where_the_condition_is_unknown() -> None:
    got = number("if_else(close > sma(close, 5), 1, 0)")
    assert np.isnan(got[:4]).all() and not np.isnan(got[4:]).any()
    node = parse_rule("if_else(close > sma(close, 5), true, false)", "long_entry", Scope({}))
    assert RuleEvaluator(CANDLES).condition(node).to_list()[:5] == [None] * 4 + [
        bool(C[4] > sum(C[:5]) / 5)
    ]


def test_a_window_made_by_round_follows_the_parameter() -> None:
    node = parse_rule("sma(close, round(n / 2)) > 0", "long_entry", Scope({"n": "int"}))
    assert isinstance(node, Comparison)
    for n, window in ((7, 4), (8, 4), (9, 5)):
        filled = fill_params(node.left, {"n": n})
        got = RuleEvaluator(CANDLES).number(filled)
        expected = [NAN] * (window - 1) + [
            sum(C[t - window + 1 : t + 1]) / window for t in range(window - 1, N)
        ]
        np.testing.assert_allclose(got, expected, rtol=1e-12)
