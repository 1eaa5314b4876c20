"""sma_cross in vectorbt, as its users write it: MA.run of the windows, cross signals, then
Portfolio.from_signals. Signals at a bar's close fill at the next open, as in our next_open fill."""

from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped]


def sma_cross_portfolio(
    close: pd.Series,
    open_: pd.Series,
    fast: int | list[int],
    slow: int | list[int],
    *,
    fee_rate: float,
    cash: float,
) -> Any:
    """One column per (fast, slow) pair: a window each, or two lists of the same length."""
    import vectorbt as vbt

    fast_ma = vbt.MA.run(close, fast, short_name="fast")
    slow_ma = vbt.MA.run(close, slow, short_name="slow")
    return vbt.Portfolio.from_signals(
        close,
        fast_ma.ma_crossed_above(slow_ma).shift(1, fill_value=False),
        fast_ma.ma_crossed_below(slow_ma).shift(1, fill_value=False),
        price=open_,  # broadcast to every column
        size=np.inf,
        fees=fee_rate,
        init_cash=cash,
        freq="1min",
    )
