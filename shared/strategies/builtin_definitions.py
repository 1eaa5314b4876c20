"""Each built-in strategy written in the expression language: the same targets, bar for bar.

The built-ins run through their own vectorized code for speed; these definitions say in the
users' language what each one does, and tests hold the two to identical results.
"""

from typing import Any

_SMA_BANDS = "sma(close, period)"
_BAND_WIDTH = "k * stdev(close, period)"
_CHANNEL_HIGH = "highest(shift(high, 1), period)"
_CHANNEL_LOW = "lowest(shift(low, 1), period)"


def _cross(average: str) -> dict[str, Any]:
    fast, slow = f"{average}(close, fast)", f"{average}(close, slow)"
    return {"long_entry": f"{fast} > {slow}", "short_entry": f"{fast} < {slow}"}


BUILTIN_RULES: dict[str, dict[str, Any]] = {
    "sma_cross": _cross("sma"),
    "ema_cross": _cross("ema"),
    "macd": {
        "long_entry": "macd(close, fast, slow) > macd_signal(close, fast, slow, signal)",
        "short_entry": "macd(close, fast, slow) < macd_signal(close, fast, slow, signal)",
    },
    "rsi_reversion": {
        "long_entry": "rsi(close, period) < lower",
        "long_exit": "rsi(close, period) > upper",
        "short_entry": "rsi(close, period) > upper",
        "short_exit": "rsi(close, period) < lower",
    },
    "bollinger_reversion": {
        "long_entry": f"close < {_SMA_BANDS} - {_BAND_WIDTH}",
        "long_exit": f"close > {_SMA_BANDS}",
        "short_entry": f"close > {_SMA_BANDS} + {_BAND_WIDTH}",
        "short_exit": f"close < {_SMA_BANDS}",
    },
    "donchian_breakout": {
        "long_entry": f"close > {_CHANNEL_HIGH}",
        "long_exit": f"close < {_CHANNEL_LOW}",
        "short_entry": f"close < {_CHANNEL_LOW}",
        "short_exit": f"close > {_CHANNEL_HIGH}",
    },
}
