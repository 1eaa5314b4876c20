"""A plugin that cheats: it buys the bar before a rise, which it can only know by looking ahead."""

import polars as pl

PARAMS = {"period": {"type": "int", "default": 5, "minimum": 1, "maximum": 50}}


def targets(candles: pl.DataFrame, params: dict) -> pl.Series:
    rises = candles["close"].shift(-1) > candles["close"]
    return rises.cast(pl.Int8).fill_null(0)
