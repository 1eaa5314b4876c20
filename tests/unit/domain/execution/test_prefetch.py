"""The prefetch hint changes nothing a compiled loop computes, even far past an array's end."""

import numpy as np
from numba import njit

from domain.execution.prefetch import prefetch


@njit
def _sum_with_hints(values: np.ndarray, ahead: int) -> float:
    total = 0.0
    for i in range(values.size):
        prefetch(values, i + ahead)
        total += values[i]
    return total


def test_a_prefetched_sum_is_the_sum_and_hints_past_the_end_do_not_fault() -> None:
    values = np.random.default_rng(3).normal(size=1_000)
    expected = 0.0
    for v in values:
        expected += v
    for ahead in (0, 64, 10_000_000):
        assert _sum_with_hints(values, ahead) == expected
