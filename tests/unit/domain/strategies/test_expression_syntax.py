"""The expression language's parser accepts what the language defines and refuses the rest,
with the field and the column; fuzzed, it never raises anything but ExpressionError."""

import string
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.strategies.definitions import parse_definition
from domain.strategies.expressions import (
    Call,
    Comparison,
    ExpressionError,
    Logical,
    Number,
    Param,
    Scope,
    Series,
    parse_rule,
)

SCOPE = Scope({"fast": "int", "slow": "int", "cap": "float"})


def refused(text: str, scope: Scope = SCOPE) -> str:
    with pytest.raises(ExpressionError) as caught:
        parse_rule(text, "long_entry", scope)
    assert caught.value.field == "long_entry"
    return caught.value.message


def test_a_rule_parses_into_nodes():
    node = parse_rule("sma(close, fast) > 2 * cap and not close < open", "long_entry", SCOPE)
    assert isinstance(node, Logical) and node.op == "and"
    first = node.operands[0]
    assert isinstance(first, Comparison)
    assert first.left == Call("sma", (Series("close"), Param("fast")))


def test_chained_comparisons_mean_and():
    node = parse_rule("1 < close < 2", "long_entry", SCOPE)
    assert node == Logical(
        "and",
        (
            Comparison("<", Number(1.0), Series("close")),
            Comparison("<", Series("close"), Number(2.0)),
        ),
    )


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("close > foo", "unknown name 'foo'; known: fast, slow, cap, open, high"),
        ("close > smaa(close, 3)", "unknown function 'smaa'"),
        ("sma(close) > 1", "sma takes 2 arguments, not 1"),
        ("sma(close, cap) > 1", "window of sma must be a constant integer"),
        ("sma(close, close) > 1", "window of sma must be a constant integer"),
        ("sma(close, 2.5) > 1", "window of sma must be a constant integer"),
        ("close > (", "syntax error at column"),
        ("close.real > 1", "attribute access is not allowed (column 1)"),
        ("close[1] > 1", "subscripting is not allowed"),
        ("(lambda: 1)() > 0", "only the language's functions can be called"),
        ("__import__('os') > 1", "unknown function '__import__'"),
        ("close > 'a'", "only numbers are"),
        ("close ** 2 > 1", "the operator ** is not allowed"),
        ("close > True", "only numbers are"),
        ("close + 1", "must be a condition"),
        ("close and open", "expected a condition here"),
        ("(close > 1) + 1 > 2", "expected a number or series here"),
        ("close in high", "only < <= > >= == != compare"),
        ("sma(x=close, n=3) > 1", "positional arguments only"),
        ("close > 1e999", "number is too large"),
        (f"close > {10**30}", "number is too large"),
        ("close > sma", "sma is a function"),
        ("", "is empty"),
        ("close > 1 if open else 2", "IfExp syntax is not allowed"),
    ],
)
def test_refusals_say_what_and_where(text: str, says: str):
    assert says in refused(text)


def test_column_of_a_refused_name():
    assert refused("close > foo").endswith("(column 9)")
    assert refused("  close > foo").endswith("(column 11)")
    assert "syntax error at column 9" in refused("close > )")


def test_limits_on_length_and_nodes():
    assert "longer than 2000 characters" in refused("close > 1 and " * 200 + "close > 1")
    assert "nodes; at most 200" in refused(" and ".join(["close > open"] * 60))


def test_deep_nesting_is_refused_not_crashing():
    message = refused("(" * 5000 + "close" + ")" * 5000 + " > 1")
    assert "longer than" in message
    nested = "(" * 300 + "close" + ")" * 300 + " > 1"
    message = refused(nested.replace(" ", ""))
    assert "syntax error" in message or "nested" in message or "longer" in message


ALPHABET = string.ascii_letters + string.digits + " ()+-*/<>=!.,_'\"[]:@~%&|^#\\\n\t"
FRAGMENTS = st.sampled_from(
    [
        "close",
        "sma(",
        "ema(",
        "shift(",
        "fast",
        "cap",
        ">",
        "<=",
        " and ",
        " or ",
        "not ",
        "(",
        ")",
        ",",
        "1",
        "0",
        "-",
        "*",
        "/",
        "1e308",
        "__import__",
        ".x",
        "[0]",
        "lambda x: x",
        "crosses_above(",
        "atr(",
        "9" * 40,
        "'s'",
    ]
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(ALPHABET, max_size=300), st.lists(FRAGMENTS, max_size=60).map("".join)))
def test_fuzzed_rules_give_only_expression_errors(text: str):
    try:
        parse_rule(text, "long_entry", SCOPE)
    except ExpressionError as exc:
        assert exc.field == "long_entry" and exc.message


VALID = "sma(close, fast) > sma(close, slow) and rsi(close, 14) < cap"


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(VALID) - 1), st.sampled_from(list(ALPHABET)), st.booleans())
def test_mutated_rules_give_only_expression_errors(position: int, char: str, insert: bool):
    text = VALID[:position] + char + VALID[position + (0 if insert else 1) :]
    try:
        parse_rule(text, "long_entry", SCOPE)
    except ExpressionError as exc:
        assert exc.message


DEFINITION = {
    "params": {
        "fast": {"type": "int", "default": 10, "minimum": 1, "maximum": 500},
        "slow": {"type": "int", "default": 30, "minimum": 2, "maximum": 2000},
        "cap": {"type": "float", "default": 70, "minimum": 0, "maximum": 100},
    },
    "rules": ["fast < slow"],
    "long_entry": "crosses_above(ema(close, fast), ema(close, slow)) and rsi(close, 14) < cap",
    "long_exit": "crosses_below(ema(close, fast), ema(close, slow))",
    "short_entry": None,
    "short_exit": None,
}


def test_the_documented_definition_parses():
    definition = parse_definition(DEFINITION)
    assert [p.name for p in definition.params] == ["fast", "slow", "cap"]
    assert definition.short_entry is None and definition.long_exit is not None
    assert parse_definition(definition.as_json()) == definition


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ({"long_entry": None}, "long_entry", "at least one of long_entry and short_entry"),
        (
            {"params": {"Fast": {"type": "int", "default": 1, "minimum": 1, "maximum": 2}}},
            "params.Fast",
            "[a-z][a-z0-9_]{0,29}",
        ),
        (
            {"params": {"close": {"type": "int", "default": 1, "minimum": 1, "maximum": 2}}},
            "params.close",
            "reserved",
        ),
        (
            {"params": {"stop_loss": {"type": "float", "default": 1, "minimum": 1, "maximum": 2}}},
            "params.stop_loss",
            "reserved",
        ),
        (
            {"params": {"n": {"type": "int", "default": 5, "minimum": 1, "maximum": 2}}},
            "params.n.default",
            "within minimum..maximum",
        ),
        (
            {"params": {"n": {"type": "str", "default": 5, "minimum": 1, "maximum": 2}}},
            "params.n.type",
            "'int' or 'float'",
        ),
        (
            {"params": {"n": {"type": "int", "default": 10**30, "minimum": 1, "maximum": 2}}},
            "params.n.default",
            "64-bit integer",
        ),
        ({"rules": ["fast > slow"]}, "params", "the defaults break the rule 'fast > slow'"),
        ({"rules": ["sma(close, 3) > 1"]}, "rules.0", "unknown name 'close'"),
        (
            {"long_exit": "close > sma(close, fast - 10)"},
            "long_exit",
            "window of sma must be an integer in 1..10000",
        ),
        ({"surprise": 1}, "surprise", "unknown field"),
    ],
)
def test_bad_definitions_name_the_field(change: dict[str, Any], field: str, says: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        parse_definition({**DEFINITION, **change})
    assert caught.value.field == field
    assert says in caught.value.message
