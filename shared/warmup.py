"""How many stored bars before `start` warm a strategy's indicators (docs/simulation.md).

"auto" is 3 x the longest window at the given parameters, at most MAX_AUTO_WARMUP_BARS; every
integer parameter of a built-in strategy is a window length. Plugins (a later issue) will
give their own WARMUP_BARS through `auto_warmup_bars`.
"""

from collections.abc import Mapping

from shared.strategies import ParamValue, strategy_entry

MAX_AUTO_WARMUP_BARS = 10_000
WINDOWS_OF_WARMUP = 3


def auto_warmup_bars(strategy: str, params: Mapping[str, ParamValue]) -> int:
    windows = [
        int(params[p.name])
        for p in strategy_entry(strategy).params
        if p.type is int and p.name in params
    ]
    return min(WINDOWS_OF_WARMUP * max(windows, default=0), MAX_AUTO_WARMUP_BARS)


def warmup_bars(asked: int | str, strategy: str, params: Mapping[str, ParamValue]) -> int:
    """A request's `warmup_bars` (an int, or "auto") as a number of bars."""
    return auto_warmup_bars(strategy, params) if asked == "auto" else int(asked)
