"""The built-in strategies: what each one does, its parameters, its rules, and its position
rules in the expression language.

Their targets are computed by the engine (domain/targets/builtin_targets.py), which
binds one function to each entry here by name when it is imported; the position rules say
the same in the users' language, and tests hold the two to identical targets.
"""

from domain.strategies.entry import StrategyEntry
from domain.strategies.params import LessThanRule, ParamSpec

MAX_PERIOD = 10_000


def _period(name: str, default: int, description: str, minimum: int = 1) -> ParamSpec:
    return ParamSpec(name, int, default, minimum, MAX_PERIOD, description)


def _rsi_level(name: str, default: float, description: str) -> ParamSpec:
    return ParamSpec(name, float, default, 0.0, 100.0, description)


def _builtin(
    name: str,
    description: str,
    params: tuple[ParamSpec, ...],
    position_rules: dict[str, str],
    *rules: LessThanRule,
) -> StrategyEntry:
    return StrategyEntry("builtin", name, description, params, rules, position_rules)


def _cross(average: str) -> dict[str, str]:
    fast, slow = f"{average}(close, fast)", f"{average}(close, slow)"
    return {"long_entry": f"{fast} > {slow}", "short_entry": f"{fast} < {slow}"}


_MACD, _MACD_SIGNAL = "macd(close, fast, slow)", "macd_signal(close, fast, slow, signal)"
_RSI = "rsi(close, period)"
_MIDDLE, _WIDTH = "sma(close, period)", "k * stdev(close, period)"
_CHANNEL_HIGH, _CHANNEL_LOW = "highest(shift(high, 1), period)", "lowest(shift(low, 1), period)"


BUILTIN_STRATEGIES: tuple[StrategyEntry, ...] = (
    _builtin(
        "sma_cross",
        "Long while SMA(close, fast) > SMA(close, slow); short (if allowed) while below.",
        (
            _period("fast", 10, "bars in the fast simple moving average"),
            _period("slow", 30, "bars in the slow simple moving average"),
        ),
        _cross("sma"),
        LessThanRule("fast", "slow"),
    ),
    _builtin(
        "ema_cross",
        "Long while EMA(close, fast) > EMA(close, slow); short (if allowed) while below.",
        (
            _period("fast", 12, "bars in the fast exponential moving average"),
            _period("slow", 26, "bars in the slow exponential moving average"),
        ),
        _cross("ema"),
        LessThanRule("fast", "slow"),
    ),
    _builtin(
        "macd",
        "Long while the MACD line is above its signal line; short (if allowed) while below.",
        (
            _period("fast", 12, "bars in the fast EMA of the MACD line"),
            _period("slow", 26, "bars in the slow EMA of the MACD line"),
            _period("signal", 9, "bars in the EMA of the MACD line that forms the signal"),
        ),
        {"long_entry": f"{_MACD} > {_MACD_SIGNAL}", "short_entry": f"{_MACD} < {_MACD_SIGNAL}"},
        LessThanRule("fast", "slow"),
    ),
    _builtin(
        "rsi_reversion",
        "Enter long when RSI < lower, exit when RSI > upper (short: the mirror).",
        (
            _period("period", 14, "bars in Wilder's RSI", minimum=2),
            _rsi_level("lower", 30.0, "RSI level below which to buy"),
            _rsi_level("upper", 70.0, "RSI level above which to sell"),
        ),
        {
            "long_entry": f"{_RSI} < lower",
            "long_exit": f"{_RSI} > upper",
            "short_entry": f"{_RSI} > upper",
            "short_exit": f"{_RSI} < lower",
        },
        LessThanRule("lower", "upper"),
    ),
    _builtin(
        "bollinger_reversion",
        "Enter long when close < lower band, exit when close > middle band (short: mirror).",
        (
            _period("period", 20, "bars in the bands' SMA and standard deviation", minimum=2),
            ParamSpec(
                "k",
                float,
                2.0,
                0.0,
                10.0,
                "band width in population standard deviations",
                minimum_exclusive=True,
            ),
        ),
        {
            "long_entry": f"close < {_MIDDLE} - {_WIDTH}",
            "long_exit": f"close > {_MIDDLE}",
            "short_entry": f"close > {_MIDDLE} + {_WIDTH}",
            "short_exit": f"close < {_MIDDLE}",
        },
    ),
    _builtin(
        "donchian_breakout",
        "Enter long when close > highest high of the previous `period` bars, exit when "
        "close < their lowest low (short: the mirror).",
        (_period("period", 20, "bars in the channel, not counting the current one"),),
        {
            "long_entry": f"close > {_CHANNEL_HIGH}",
            "long_exit": f"close < {_CHANNEL_LOW}",
            "short_entry": f"close < {_CHANNEL_LOW}",
            "short_exit": f"close > {_CHANNEL_HIGH}",
        },
    ),
)
