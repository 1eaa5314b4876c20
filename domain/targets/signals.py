"""Target positions: a registry entry's targets per bar, then the side `direction` forbids dropped.

Targets are int8 in {+1, 0, -1}, decided from data up to each bar's close; warm-up is flat.
"""

from typing import Literal

import numpy as np

from domain.strategies import strategy_entry
from domain.targets.builtin_targets import BUILTIN_TARGETS, Params, Targets
from domain.targets.indicator_cache import IndicatorCache

Direction = Literal["long_only", "short_only", "long_short"]

__all__ = ["Direction", "Params", "Targets", "allow_direction", "target_positions"]


def allow_direction(targets: Targets, direction: Direction) -> Targets:
    """Drop the side the direction forbids: long_only maps -1 to 0, short_only +1 to 0."""
    if direction == "long_only":
        return np.maximum(targets, 0).astype(np.int8)
    if direction == "short_only":
        return np.minimum(targets, 0).astype(np.int8)
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
