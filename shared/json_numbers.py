"""JSON numbers kept inside float64 (int64 for integers): found in a request before any model
reads it, and decoded from stored jsonb so that no stored value can break an answer."""

import json
import math
from typing import Any

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# Longer literals are out of int64 whatever their digits; checking the length first keeps
# int() away from huge strings (Python refuses more than 4300 digits).
_INT64_DIGITS = 19


class _OutOfRange:
    def __init__(self, kind: str) -> None:
        self.kind = kind


def _int_or_out_of_range(text: str) -> int | _OutOfRange:
    if len(text.lstrip("-")) <= _INT64_DIGITS:
        value = int(text)
        if INT64_MIN <= value <= INT64_MAX:
            return value
    return _OutOfRange("an integer outside int64")


def _float_or_out_of_range(text: str) -> float | _OutOfRange:
    value = float(text)
    return value if math.isfinite(value) else _OutOfRange("a number outside float64")


def _constant(text: str) -> _OutOfRange:
    return _OutOfRange(f"{text}, which is not a JSON number")


def _first_out_of_range(node: Any, path: tuple[str, ...]) -> tuple[str, str] | None:
    if isinstance(node, _OutOfRange):
        return ".".join(path) or "body", f"must be within float64 (int64 for integers): {node.kind}"
    if isinstance(node, dict):
        children: Any = node.items()
    elif isinstance(node, list):
        children = enumerate(node)
    else:
        return None
    for key, child in children:
        found = _first_out_of_range(child, (*path, str(key)))
        if found is not None:
            return found
    return None


def out_of_range_number(body: bytes) -> tuple[str, str] | None:
    """(field, message) of the first number in a JSON body that float64 / int64 cannot hold;
    None when there is none, or when the body is not JSON (its parser says why, later)."""
    try:
        tree = json.loads(
            body,
            parse_int=_int_or_out_of_range,
            parse_float=_float_or_out_of_range,
            parse_constant=_constant,
        )
        return _first_out_of_range(tree, ())
    except (ValueError, RecursionError):
        return None


def _stored_int(text: str) -> int | float:
    # jsonb writes 1e20 as 100000000000000000000; a JSON encoder may refuse such an int.
    if len(text.lstrip("-")) <= _INT64_DIGITS:
        value = int(text)
        if INT64_MIN <= value <= INT64_MAX:
            return value
    return float(text)


def loads_stored(text: str) -> Any:
    """jsonb text as Python values; integers beyond int64 come back as floats."""
    return json.loads(text, parse_int=_stored_int)
