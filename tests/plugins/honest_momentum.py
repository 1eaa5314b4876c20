"""A plugin that only uses the past: long while the close is above its close `period` bars ago."""

import numpy as np

DESCRIPTION = "Long while close > close[period bars ago]"
PARAMS = {"period": {"type": "int", "default": 5, "minimum": 1, "maximum": 50}}
RULES = ["period > 0"]
WARMUP_BARS = 50


def targets(candles, params):
    close = candles["close"].to_numpy()
    period = params["period"]
    out = np.zeros(close.size)
    out[period:] = np.where(close[period:] > close[:-period], 1, -1)
    out[:period] = np.nan  # warm-up: NaN counts as flat
    return out
