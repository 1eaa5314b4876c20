"""How many stored bars before `start` warm a strategy's indicators (docs/simulation.md).

"auto" is 3 x the longest window at the given parameters (shifts count), at most
MAX_AUTO_WARMUP_BARS, for built-ins and expression strategies alike (a built-in's windows
are those of its definition in the expression language); a plugin gives its own
`WARMUP_BARS` (an int, or a function of the params), else none.
"""

from collections.abc import Mapping

from domain.strategies import ParamValue, StrategyEntry
from domain.strategies.definitions import definition_of, longest_window

MAX_AUTO_WARMUP_BARS = 10_000
WINDOWS_OF_WARMUP = 3


def auto_warmup_bars(entry: StrategyEntry, params: Mapping[str, ParamValue]) -> int:
    if entry.plugin is not None:
        declared = entry.plugin.warmup_bars
        bars = declared(dict(params)) if callable(declared) else declared
        return min(max(int(bars or 0), 0), MAX_AUTO_WARMUP_BARS)
    if not entry.position_rules:
        return 0
    longest = longest_window(definition_of(entry), params)
    return min(WINDOWS_OF_WARMUP * longest, MAX_AUTO_WARMUP_BARS)


def warmup_bars(asked: int | str, entry: StrategyEntry, params: Mapping[str, ParamValue]) -> int:
    """A request's `warmup_bars` (an int, or "auto") as a number of bars."""
    return auto_warmup_bars(entry, params) if asked == "auto" else int(asked)
