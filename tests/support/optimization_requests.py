"""The backtest the optimization tests vary: a thousand hours of BTCUSDT from T0."""

from typing import Any

T0 = 1_704_067_200_000
HOURS = 1000
BACKTEST: dict[str, Any] = {
    "category": "linear",
    "symbol": "BTCUSDT",
    "interval": "60",
    "start": T0,
    "end": T0 + HOURS * 3_600_000,
    "strategy": {"name": "sma_cross"},
    "fee_rate": 0.001,
    "direction": "long_short",
}
