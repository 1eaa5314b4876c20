"""Target positions: a registry entry's targets per bar, then the side `direction` forbids dropped.

Targets are int8 in {+1, 0, -1}, decided from data up to each bar's close; warm-up is flat.
"""

import numpy as np

from domain.compiled_cache import njit
from domain.execution.settings import Direction
from domain.strategies import strategy_entry
from domain.targets.builtin_targets import BUILTIN_TARGETS, Params, Targets
from domain.targets.indicator_cache import IndicatorCache

__all__ = ["Direction", "Params", "Targets", "allow_direction", "target_positions"]


@njit(cache=True)
def _side_dropped(targets: Targets, side: int) -> Targets:
    """A copy of the targets with those of `side` (+1 or -1) made flat, in one pass."""
    kept = np.empty(targets.size, np.int8)
    for i in range(targets.size):
        kept[i] = 0 if targets[i] == side else targets[i]
    return kept


def allow_direction(targets: Targets, direction: Direction) -> Targets:
    """Drop the side the direction forbids: long_only maps -1 to 0, short_only +1 to 0."""
    if direction == "long_only":
        return _side_dropped(np.ascontiguousarray(targets, np.int8), -1)
    if direction == "short_only":
        return _side_dropped(np.ascontiguousarray(targets, np.int8), 1)
    return targets


def target_positions(
    cache: IndicatorCache, strategy: str, params: Params, direction: Direction
) -> Targets:
    """The target position per bar of strategy `strategy` (params already resolved).

    An unknown name raises ParamError, a ValueError.
    """
    entry = strategy_entry(strategy)
    # Every entry is a built-in today, and each has its function (checked at import).
    compute = BUILTIN_TARGETS[entry.name]
    return allow_direction(compute(cache, params), direction)
