"""Optuna's `_truncnorm._log_ndtr` (the log of the standard normal CDF), compiled.

TPE calls it for every Gaussian mass of its densities and at every Newton step of its
sampling, through `np.frompyfunc` over a Python function of one number: some 15% of a
batch's asks. Here the same operations on the same numbers, in a numba loop: each value
computed as `_log_ndtr_single` computes it, by the C library's `erf`, `erfc` and `log` that
Python's `math` calls too (tests/unit/services/engine/test_tpe_log_ndtr.py compares the
bits). Below -20 Optuna sums an asymptotic series with `a**2`, which Python takes from the
C library's `pow` and numba would not: those values, and NaN, go to Optuna's own function.
"""

import math

import numpy as np
from numba import njit
from optuna.samplers._tpe import _truncnorm

SERIES_BELOW = -20.0  # where `_log_ndtr_single` turns to its series
# Its constants, as Python computes them (numba takes globals as they are).
_SQRT2 = 2**0.5
_MINUS_HALF_SQRT2 = -1 / 2**0.5
_HALF_SQRT2 = 1 / 2**0.5
_optuna_log_ndtr = _truncnorm._log_ndtr


@njit("float64(float64)", cache=True)
def _ndtr_single(a: float) -> float:
    x = a / _SQRT2
    if x < _MINUS_HALF_SQRT2:
        return 0.5 * math.erfc(-x)
    if x < _HALF_SQRT2:
        return 0.5 + 0.5 * math.erf(x)
    return 1.0 - 0.5 * math.erfc(x)


@njit("float64[::1](float64[::1])", cache=True)
def _log_ndtr_above_series(a: np.ndarray) -> np.ndarray:
    out = np.empty(a.size)
    for i in range(a.size):
        out[i] = -_ndtr_single(-a[i]) if a[i] > 6 else math.log(_ndtr_single(a[i]))
    return out


def log_ndtr(a: np.ndarray) -> np.ndarray:
    """`_truncnorm._log_ndtr(a)`, bit for bit."""
    values = np.asarray(a, dtype=np.float64)
    if not values.size or not (values > SERIES_BELOW).all():
        return _optuna_log_ndtr(a)
    flat = np.ascontiguousarray(values).ravel()
    return _log_ndtr_above_series(flat).reshape(values.shape)
