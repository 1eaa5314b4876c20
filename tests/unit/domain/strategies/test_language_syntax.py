"""The grammar of "More of the language": every new function, constant and series parses;
every misuse is a 422 naming the field and the column; fuzzed with the new grammar, the
parser raises only ExpressionError and what it accepts evaluates."""

import string
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.market.candles import Candles
from domain.market.perp_market import perp_market
from domain.strategies.definitions import check_windows, parse_definition
from domain.strategies.expressions import (
    FUNCTIONS,
    SERIES,
    ExpressionError,
    Kind,
    Scope,
    Truth,
    kind_of,
    parse_rule,
)
from domain.targets.expression_rules import RuleEvaluator, fill_params
from shared.backtest_spec import BacktestSpec

SCOPE = Scope({"n": "int", "k": "float"})
ACCEPTED = [
    "true",
    "False",
    "if_else(close > open, high, low) > close",
    "if_else(close > open, true, false)",
    "floor(close) > ceil(open) or round(close) > 1",
    "hour >= 8 and minute == 0 and weekday < 5 and day > 1 and month != 12",
    "funding_rate > 0 and mark_close > mark_open and mark_high > mark_low",
    'htf(close, "240") > htf(sma(close, n), "D")',
    'htf(close > ema(close, 50), "W")',
    "sum(volume, n) > 0 and wma(close, 5) > hma(close, 9)",
    "zscore(close, 20) < -2 and percent_rank(close, 50) > 0.9",
    "close > vwap(20) and close < bb_upper(close, 20, k) and close > bb_lower(close, n, 2)",
    "adx(14) > 25 and plus_di(14) > minus_di(14)",
    "cci(20) < -100 and willr(14) < -80 and mfi(14) < 20 and natr(14) > 1 and obv() > 0",
    "stoch_k(14, 3) > stoch_d(14, 3, 3)",
    "supertrend(10, 3) == 1 and supertrend(n, k) > 0",
    "sma(close, round(n / 2)) > sma(close, floor(k * 3)) and ema(close, ceil(k)) > 0",
]


@pytest.mark.parametrize("text", ACCEPTED)
def test_the_new_grammar_parses(text: str) -> None:
    assert kind_of(parse_rule(text, "long_entry", SCOPE)) == "boolean"
    assert parse_rule("true", "long_entry", SCOPE) == Truth(True)


def refused(text: str, scope: Scope = SCOPE) -> str:
    with pytest.raises(ExpressionError) as caught:
        parse_rule(text, "long_entry", scope)
    assert caught.value.field == "long_entry"
    return caught.value.message


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("where(close > open, 1, 0) > 0", "unknown function 'where'; known: sma"),
        ("close > foo", "known: n, k, open, high, low, close, volume, turnover, hour"),
        ("close > foo", "funding_rate, mark_open, mark_high, mark_low, mark_close, true, false"),
        ("(close > open) * 1 > 0", "if_else(condition, 1, 0) makes a number of a condition"),
        ('htf(htf(close, "D"), "W") > 0', "htf inside htf is not allowed (column 1)"),
        ('htf(close, "2h") > 0', 'the interval of htf must be a Bybit interval in quotes: "1"'),
        ("htf(close, 240) > 0", "must be a Bybit interval in quotes"),
        ("htf(close, n) > 0", "must be a Bybit interval in quotes"),
        ("if_else(close, 1, 0) > 0", "expected a condition here"),
        ("if_else(close > 1, 1, true)", "must both be numbers or both conditions"),
        ("sma(close, k) > 0", "window of sma must be a constant integer"),
        ("sma(close, round(close)) > 0", "window of sma must be a constant integer"),
        ("supertrend(10, close) > 0", "the factor of supertrend must be a constant"),
        ("bb_upper(close, 20, high) > 0", "the factor of bb_upper must be a constant"),
        ("obv(close) > 0", "obv takes 0 arguments, not 1"),
        ("'240' > close", "only numbers are"),
    ],
)
def test_misuse_says_what_and_where(text: str, says: str) -> None:
    assert says in refused(text)


def test_a_window_that_is_not_an_integer_at_the_parameters_names_its_column() -> None:
    definition = {
        "params": {"n": {"type": "int", "default": 7, "minimum": 2, "maximum": 50}},
        "long_entry": "close > sma(close, n / 2)",
    }
    with pytest.raises(ExpressionError) as caught:
        parse_definition(definition)
    assert caught.value.field == "long_entry"
    assert "window of sma must be an integer in 1..10000" in caught.value.message
    assert caught.value.message.endswith("(column 9)")
    rounded = {**definition, "long_entry": "close > sma(close, round(n / 2))"}
    assert parse_definition(rounded).long_entry is not None
    with pytest.raises(ExpressionError, match=r"window of hma must be an integer in 4\.\.10000"):
        parse_definition({"long_entry": "close > hma(close, 3)"})


def test_the_size_rule_is_a_number_and_only_there_when_given() -> None:
    with pytest.raises(ExpressionError) as caught:
        parse_definition({"long_entry": "true", "size": "close > 1"})
    assert caught.value.field == "size"
    sized = parse_definition({"long_entry": "true", "size": "min(1, 0.01 / natr(14))"})
    assert sized.as_json()["size"] == "min(1, 0.01 / natr(14))"
    assert parse_definition(sized.as_json()) == sized
    assert "size" not in parse_definition({"long_entry": "true"}).as_json()


REQUEST: dict[str, Any] = {
    "category": "linear",
    "symbol": "BTCUSDT",
    "interval": "60",
    "start": "2024-01-01T00:00:00Z",
    "end": "2024-06-30T23:00:00Z",
}


def spec_error(rule: str, **change: Any) -> tuple[tuple[Any, ...], str]:
    request = REQUEST | change | {"strategy": {"definition": {"long_entry": rule}}}
    with pytest.raises(ValidationError) as caught:
        BacktestSpec.model_validate(request)
    error = caught.value.errors()[0]
    return error["loc"], error["msg"]


@pytest.mark.parametrize(
    ("rule", "change", "says"),
    [
        ('close > htf(close, "30")', {}, 'the interval "30" of htf must be longer than'),
        ('close > htf(close, "60")', {}, 'must be longer than the request\'s "60"'),
        ('close > htf(close, "M")', {"interval": "W"}, 'the interval "M" of htf'),
        ('close > htf(close, "W")', {"interval": "D", "category": "spot"}, None),
        ("funding_rate > 0", {"category": "spot"}, "funding_rate exists for perpetuals"),
        ("mark_close > close", {"category": "spot"}, "mark_close exists for perpetuals"),
        ("funding_rate > 0", {"funding": False}, 'funding_rate needs "funding": true'),
        ("mark_close > close", {"funding": False}, None),
    ],
)
def test_requests_the_market_cannot_serve_are_422_at_the_rule(
    rule: str, change: dict[str, Any], says: str | None
) -> None:
    if says is None:
        request = REQUEST | change | {"strategy": {"definition": {"long_entry": rule}}}
        BacktestSpec.model_validate(request)
        return
    loc, message = spec_error(rule, **change)
    assert loc == ("strategy", "definition", "long_entry")
    assert says in message


def test_a_long_htf_warms_up_in_the_requests_bars() -> None:
    spec = BacktestSpec.model_validate(
        REQUEST | {"strategy": {"definition": {"long_entry": 'close > htf(sma(close, 20), "240")'}}}
    )
    assert spec.warmup_bars_asked == 3 * 20 * 4


# Fuzzing: random text from the new grammar's pieces, and random well-formed rules.
ALPHABET = string.ascii_letters + string.digits + " ()+-*/<>=!.,_'\"[]:@~%&|^#\\\n\t"
FRAGMENTS = st.sampled_from(
    [
        *SERIES,
        *(f"{name}(" for name in FUNCTIONS),
        *("true", "False", '"240"', "'D'", '"7"', "n", "k", ">", "<=", " and ", " or "),
        *("not ", "(", ")", ",", "1", "0.5", "-", "*", "/"),
    ]
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(ALPHABET, max_size=200), st.lists(FRAGMENTS, max_size=60).map("".join)))
def test_fuzzed_rules_give_only_expression_errors(text: str) -> None:
    kinds: tuple[Kind, ...] = ("boolean", "number")
    for kind in kinds:
        try:
            parse_rule(text, "long_entry", SCOPE, kind)
        except ExpressionError as exc:
            assert exc.field == "long_entry" and exc.message


WINDOWS = st.sampled_from(["3", "n", "round(n / 2)", "floor(k * 2)", "ceil(k)"])
INTERVALS = st.sampled_from(['"120"', '"240"', '"D"'])


def _numbers(inner: bool) -> Any:
    leaves = st.sampled_from(
        [
            *("close", "open", "volume", "hour", "weekday", "day", "month", "funding_rate"),
            *("1.5", "mark_close", "obv()", "adx(5)", "cci(4)", "mfi(3)", "natr(3)", "vwap(3)"),
            *("supertrend(3, k)", "stoch_k(5, 2)", "stoch_d(5, 2, 2)", "willr(4)", "plus_di(3)"),
        ]
    )

    def extend(children: Any) -> Any:
        unary = st.sampled_from(
            ["sma", "ema", "wma", "sum", "zscore", "percent_rank", "stdev", "highest", "hma"]
        )
        options = [
            st.tuples(unary, children, WINDOWS).map(lambda t: f"{t[0]}({t[1]}, {t[2]})"),
            st.tuples(children, st.sampled_from("+-*/"), children).map(
                lambda t: f"({t[0]} {t[1]} {t[2]})"
            ),
            st.tuples(children, children).map(lambda t: f"if_else({t[0]} > {t[1]}, {t[0]}, 2)"),
            st.tuples(children, WINDOWS).map(lambda t: f"bb_upper({t[0]}, {t[1]}, k)"),
            children.map(lambda c: f"round({c})"),
        ]
        if not inner:
            options.append(
                st.tuples(_numbers(True), INTERVALS).map(lambda t: f"htf({t[0]}, {t[1]})")
            )
        return st.one_of(options)

    return st.recursive(leaves, extend, max_leaves=6)


CANDLES_N = 200
_t = np.arange(CANDLES_N, dtype=np.int64) * 3_600_000 + 1_700_000_000_000 // 3_600_000 * 3_600_000
_rng = np.random.default_rng(7)
_close = 100 * np.exp(np.cumsum(_rng.normal(0, 0.01, CANDLES_N)))
FUZZ_CANDLES = Candles(
    _t, _close, _close * 1.01, _close * 0.99, _close, _rng.uniform(1, 10, CANDLES_N), _close
)
FUZZ_MARKET = perp_market(
    FUZZ_CANDLES, "60", Candles.empty(), _t[::8], _rng.normal(0, 1e-4, _t[::8].size)
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_numbers(False), _numbers(False), st.integers(4, 30), st.floats(0.5, 4.0))
def test_well_formed_rules_parse_and_evaluate(left: str, right: str, n: int, k: float) -> None:
    params = {"n": n, "k": k}
    spec = {"type": "int", "default": 10, "minimum": 1, "maximum": 100}
    raw = {
        "params": {"n": spec, "k": {**spec, "type": "float", "default": 2.0}},
        "long_entry": f"{left} > {right}",
    }
    try:
        definition = parse_definition(raw)
        check_windows(definition, params)  # e.g. hma(x, ceil(k)) needs a window of 4
    except ExpressionError as exc:
        # A window the parameters make fractional, or a generated rule past the size bound.
        assert "must be an integer in" in exc.message or "nodes; at most 200" in exc.message
        reject()
    assert definition.long_entry is not None
    condition = RuleEvaluator(FUZZ_CANDLES, "60", FUZZ_MARKET).condition(
        fill_params(definition.long_entry.node, params)
    )
    assert condition.len() == CANDLES_N
