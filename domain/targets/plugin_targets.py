"""Running a plugin's `targets` (in the pool): its answer checked, its failures turned into a
reason the user can act on, and the look-ahead guard."""

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import polars as pl
from domain.execution.settings import Direction

from domain.market.candles import PRICE_FIELDS, Candles
from domain.market.intervals import iso_utc
from domain.strategies.plugins import Plugin, describe_error
from domain.targets.signals import Targets, allow_direction

# The bars before these fractions of the range are the cut runs of the look-ahead guard.
LOOK_AHEAD_CUTS = (0.25, 0.5, 0.75)


class StrategyError(Exception):
    """User code failed; the message is the job's reason."""


def candles_frame(candles: Candles) -> pl.DataFrame:
    """The candles as plugins see them: open_time Int64 (epoch ms), prices Float64."""
    columns: dict[str, Any] = {"open_time": pl.Series(candles.open_time, dtype=pl.Int64)}
    for name in PRICE_FIELDS:
        columns[name] = pl.Series(getattr(candles, name), dtype=pl.Float64)
    return pl.DataFrame(columns)


def raw_plugin_targets(plugin: Plugin, candles: Candles, params: Mapping[str, Any]) -> Targets:
    """The plugin's targets before `direction`, checked; StrategyError on any failure."""
    if plugin.targets is None:
        raise StrategyError(f"strategy {plugin.name} is unavailable: {plugin.error}")
    try:
        answer = plugin.targets(candles_frame(candles), dict(params))
    except BaseException as exc:
        raise StrategyError(f"strategy error: {describe_error(exc, plugin.path)}") from None
    return _checked(answer, len(candles), plugin.path.name)


def plugin_targets(
    plugin: Plugin, candles: Candles, params: Mapping[str, Any], direction: Direction
) -> Targets:
    return allow_direction(raw_plugin_targets(plugin, candles, params), direction)


def _checked(answer: Any, size: int, file_name: str) -> Targets:
    where = f"targets() of {file_name}"
    try:
        if isinstance(answer, pl.Series):
            values = answer.cast(pl.Float64, strict=False).to_numpy()
        else:
            values = np.asarray(
                [np.nan if v is None else v for v in answer]
                if isinstance(answer, list | tuple)
                else answer,
                dtype=np.float64,
            )
    except (TypeError, ValueError, pl.exceptions.PolarsError) as exc:
        raise StrategyError(
            f"strategy error: {where} returned {type(answer).__name__}, not numbers ({exc})"
        ) from None
    if values.ndim != 1 or values.size != size:
        raise StrategyError(
            f"strategy error: {where} returned {values.size} values for {size} candles"
        )
    values = np.where(np.isnan(values), 0.0, values)  # null or NaN counts as flat
    bad = np.flatnonzero((values != -1) & (values != 0) & (values != 1))
    if bad.size:
        raise StrategyError(
            f"strategy error: {where} returned {float(values[bad[0]]):g} at bar {bad[0]}; "
            "targets must be -1, 0 or 1"
        )
    return values.astype(np.int8)


def look_ahead_violation(
    compute: Callable[[Candles], Targets], candles: Candles, full: Targets
) -> str | None:
    """A reason starting `look-ahead:` when targets on the range cut short differ from the
    full run's on the same bars (a decision that used later bars), else None."""
    size = len(candles)
    for fraction in LOOK_AHEAD_CUTS:
        cut = int(size * fraction)
        if cut < 1:
            continue
        part = compute(candles.select(np.arange(cut)))
        changed = np.flatnonzero(part != full[:cut])
        if changed.size:
            bar = int(changed[0])
            return (
                f"look-ahead: the target at bar {bar} ({iso_utc(int(candles.open_time[bar]))}) "
                f"is {int(full[bar])} with the whole range but {int(part[bar])} when the data "
                f"ends at {iso_utc(int(candles.open_time[cut - 1]))}: it used later bars"
            )
    return None
