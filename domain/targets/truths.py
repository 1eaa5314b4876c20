"""Conditions of expression rules per bar, three-valued: int8 FALSE (0), UNKNOWN (1), TRUE (2).

A comparison with a missing (NaN) side is unknown; `and` is the least of its operands, `or`
the greatest, `not` the mirror image: Kleene's logic, the language's nulls. A rule holds
where it is TRUE. A comparison is one compiled pass over its two number arrays; the logic
is numpy's on int8 arrays (a byte a bar, no frame to build or collect).
"""

import numpy as np
import numpy.typing as npt

from domain.compiled_cache import njit
from domain.strategies.expressions import ComparisonOp

Truths = npt.NDArray[np.int8]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

FALSE, UNKNOWN, TRUE = 0, 1, 2

_LESS, _LESS_EQUAL, _EQUAL = 0, 1, 2
# Each comparison as one of <, <=, == and whether it is negated: over known values, a > b is
# not (a <= b), a >= b not (a < b), a != b not (a == b); an unknown stays unknown.
_BASE: dict[ComparisonOp, tuple[int, bool]] = {
    "<": (_LESS, False),
    "<=": (_LESS_EQUAL, False),
    "==": (_EQUAL, False),
    ">": (_LESS_EQUAL, True),
    ">=": (_LESS, True),
    "!=": (_EQUAL, True),
}
# a op b is b MIRRORED[op] a.
_MIRRORED: dict[ComparisonOp, ComparisonOp] = {
    "<": ">",
    "<=": ">=",
    ">": "<",
    ">=": "<=",
    "==": "==",
    "!=": "!=",
}


def constant(value: int, size: int) -> Truths:
    return np.full(size, value, np.int8)


def compare(
    op: ComparisonOp, left: FloatArray | float, right: FloatArray | float, size: int
) -> Truths:
    """left op right at each bar; each side a float64 array of `size` bars or a constant."""
    if isinstance(left, float) and not isinstance(right, float):
        return compare(_MIRRORED[op], right, left, size)
    code, negated = _BASE[op]
    if isinstance(left, float):
        assert isinstance(right, float)
        one = _compared_to(code, np.array([left]), right, negated)
        return constant(one[0], size)
    a = np.ascontiguousarray(left, np.float64)
    if isinstance(right, float):
        return _compared_to(code, a, right, negated)
    return _compared(code, a, np.ascontiguousarray(right, np.float64), negated)


def both(a: Truths, b: Truths) -> Truths:
    return np.minimum(a, b)


def either(a: Truths, b: Truths) -> Truths:
    return np.maximum(a, b)


def negation(a: Truths) -> Truths:
    return (TRUE - a).astype(np.int8)


def chosen(condition: Truths, when_true: Truths, when_false: Truths) -> Truths:
    """`if_else` of conditions: unknown where `condition` is."""
    picked = np.where(condition == TRUE, when_true, when_false)
    return np.where(condition == UNKNOWN, np.int8(UNKNOWN), picked).astype(np.int8)


def holds(a: Truths) -> BoolArray:
    """Where a rule holds: an unknown counts as false."""
    return np.equal(a, TRUE)


@njit(cache=True, inline="always")
def _truth(result: bool, x: float, y: float, negated: bool) -> np.int8:
    known = (x == x) & (y == y)
    return np.int8(2) * np.int8(known & (result != negated)) + np.int8(not known)


# Each loop reads its arrays at the loop's own index (an offset index would be checked for
# wrap-around at every element and not vectorize).
@njit(cache=True)
def _compared(code: int, a: FloatArray, b: FloatArray, negated: bool) -> Truths:
    out = np.empty(a.size, np.int8)
    if code == _LESS:
        for i in range(a.size):
            out[i] = _truth(a[i] < b[i], a[i], b[i], negated)
    elif code == _LESS_EQUAL:
        for i in range(a.size):
            out[i] = _truth(a[i] <= b[i], a[i], b[i], negated)
    else:
        for i in range(a.size):
            out[i] = _truth(a[i] == b[i], a[i], b[i], negated)
    return out


@njit(cache=True)
def _compared_to(code: int, a: FloatArray, value: float, negated: bool) -> Truths:
    out = np.empty(a.size, np.int8)
    if code == _LESS:
        for i in range(a.size):
            out[i] = _truth(a[i] < value, a[i], value, negated)
    elif code == _LESS_EQUAL:
        for i in range(a.size):
            out[i] = _truth(a[i] <= value, a[i], value, negated)
    else:
        for i in range(a.size):
            out[i] = _truth(a[i] == value, a[i], value, negated)
    return out
