"""Seeded synthetic candles: the same series on every run."""

import numpy as np

from domain.market.candles import Candles

START_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z


def random_walk(bars: int, *, minutes_per_bar: int = 1, seed: int = 7) -> Candles:
    """A seeded random walk shaped into OHLC bars every `minutes_per_bar` from 2024-01-01 UTC."""
    rng = np.random.default_rng(seed)
    close = 40_000 * np.exp(np.cumsum(rng.normal(0.0, 0.0008, bars)))
    open_ = np.concatenate([[40_000.0], close[:-1]]) * (1 + rng.normal(0.0, 0.0001, bars))
    spread = np.abs(rng.normal(0.0, 0.0005, bars))
    high = np.maximum(open_, close) * (1 + spread)
    low = np.minimum(open_, close) * (1 - spread)
    volume = rng.uniform(1.0, 10.0, bars)
    times = START_MS + np.arange(bars, dtype=np.int64) * minutes_per_bar * 60_000
    return Candles(times, open_, high, low, close, volume, volume * close)
