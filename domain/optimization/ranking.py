"""How results rank (docs/simulation.md, Ranking): one rule for grid rows, `best` and each
walk-forward window's choice. By a metric (higher is better except for max_drawdown), a null
last, a tie to the set that comes first in the grid's order (its `position`). Python ranks
with `ranking_key`; SQL orders with `order_sql`, built from the same pieces."""

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, TypeVar

from domain.metrics.names import LOWER_IS_BETTER, METRIC_KEYS

T = TypeVar("T")


def lower_is_better(metric: str) -> bool:
    return metric in LOWER_IS_BETTER


def ranking_key(metrics: Mapping[str, Any], metric: str, position: int) -> tuple[int, float, int]:
    """Sorts best first: the metric in its direction, nulls last, then the earlier position."""
    value = metrics.get(metric)
    if value is None:
        return (1, 0.0, position)
    return (0, value if lower_is_better(metric) else -value, position)


def best_of(
    items: Iterable[T],
    metric: str,
    metrics: Callable[[T], Mapping[str, Any]],
    position: Callable[[T], int],
) -> T:
    return min(items, key=lambda item: ranking_key(metrics(item), metric, position(item)))


def order_sql(metric_json: str, metric: str, position_column: str) -> str:
    """ORDER BY terms: `metric_json` is the SQL of a jsonb object holding the metrics."""
    if metric not in METRIC_KEYS:  # it goes into SQL text: only a known key
        raise ValueError(f"unknown metric {metric!r}")
    direction: Literal["ASC", "DESC"] = "ASC" if lower_is_better(metric) else "DESC"
    return f"({metric_json}->>'{metric}')::float8 {direction} NULLS LAST, {position_column}"
