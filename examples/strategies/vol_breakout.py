"""An example strategy plugin: a breakout of k average true ranges above the previous close.

Copy it into a directory of STRATEGY_PATH; it needs nothing from the platform, only polars.
"""

from typing import Any

import polars as pl

NAME = "vol_breakout"
DESCRIPTION = "Long after a close more than k ATRs above the previous close, until a close below it"
PARAMS = {
    "period": {"type": "int", "default": 20, "minimum": 2, "maximum": 500},
    "k": {"type": "float", "default": 2.0, "minimum": 0.1, "maximum": 10.0},
}
RULES = ["period < 400"]


def WARMUP_BARS(params: dict[str, Any]) -> int:
    return 3 * int(params["period"])


def _atr(params: dict[str, Any]) -> pl.Expr:
    """Wilder's smoothing of the true range."""
    previous_close = pl.col("close").shift(1)
    true_range = pl.max_horizontal(
        pl.col("high") - pl.col("low"),
        (pl.col("high") - previous_close).abs(),
        (pl.col("low") - previous_close).abs(),
    )
    return true_range.ewm_mean(
        alpha=1 / params["period"], adjust=False, min_samples=params["period"]
    )


def targets(candles: pl.DataFrame, params: dict[str, Any]) -> pl.Series:
    previous_close = pl.col("close").shift(1)
    # The ATR as of the bar before (decided at each close).
    frame = candles.with_columns(atr=_atr(params).shift(1), previous_close=previous_close)
    enter = pl.col("close") > pl.col("previous_close") + params["k"] * pl.col("atr")
    leave = pl.col("close") < pl.col("previous_close")
    # 1 from an entry bar until the next exit bar: carry the last event forward.
    event = pl.when(enter).then(1).when(leave).then(0).otherwise(None)
    return frame.select(event.forward_fill().fill_null(0).alias("target")).to_series()


def indicators(candles: pl.DataFrame, params: dict[str, Any]) -> dict[str, pl.Series]:
    """What the chart draws: the level a close must pass to enter (on the candles) and the ATR
    (in a pane below), one value per candle."""
    frame = candles.select(
        level=pl.col("close").shift(1) + params["k"] * _atr(params).shift(1), atr=_atr(params)
    )
    return {"entry level": frame["level"], "atr": frame["atr"]}
