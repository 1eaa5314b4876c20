"""Candles for unit tests: from hand-written (open, high, low, close) rows, or from the
`backtesting` package's sample frames, and a simulation of given targets on them."""

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped]

from domain.backtest import BacktestResult, simulate_targets
from domain.execution.settings import ExecutionSettings
from domain.market.candles import Candles

MINUTE = 60_000


def bars(rows: Sequence[tuple[float, float, float, float]]) -> Candles:
    """Candles from (open, high, low, close) rows, one minute apart."""
    o, h, lo, c = (np.array(col, np.float64) for col in zip(*rows, strict=True))
    n = len(rows)
    return Candles(np.arange(n, dtype=np.int64) * MINUTE, o, h, lo, c, np.ones(n), np.ones(n))


def flat_bars(prices: list[float]) -> Candles:
    """Bars whose open, high, low and close are all the same price."""
    return bars([(p, p, p, p) for p in prices])


def run(
    candles: Candles,
    targets: list[int],
    trade_from: int = 0,
    trade_to: int | None = None,
    **settings: Any,
) -> BacktestResult:
    execution = ExecutionSettings(**{"fee_rate": 0.0, **settings})
    targets_array = np.array(targets, np.int8)
    return simulate_targets(candles, targets_array, execution, "1", trade_from, trade_to)


def frame_candles(frame: pd.DataFrame) -> Candles:
    """Candles from a backtesting-style frame (Open, High, Low, Close, Volume; a time index)."""
    times = frame.index.as_unit("ms").asi8.astype(np.int64)
    column = {name: frame[name].to_numpy(np.float64) for name in frame.columns}
    return Candles(
        times,
        column["Open"],
        column["High"],
        column["Low"],
        column["Close"],
        column["Volume"],
        np.zeros(len(frame)),
    )
