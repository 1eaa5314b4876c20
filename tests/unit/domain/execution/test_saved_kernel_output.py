"""Leverage 1 without funding changes nothing: a linear or inverse-free run gives, bit for bit,
what the kernel gave before perpetuals (tests/unit/data/pre_perps_kernel.npz, written by that
kernel, commit 1279c02, on the `backtesting` package's EURUSD and GOOG samples)."""

import dataclasses

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
import pytest
from backtesting.test import EURUSD, GOOG

from domain.backtest import Trades, run_backtest
from domain.execution.config import BacktestConfig
from domain.execution.settings import AtrMultiple, Contract, ExecutionSettings
from tests.support.candles import frame_candles as _candles
from tests.support.paths import UNIT_DATA

GOLDEN = np.load(UNIT_DATA / "pre_perps_kernel.npz")
CASES = {
    "plain": ExecutionSettings(),
    "short_close": ExecutionSettings(direction="long_short", fill="close", slippage_bps=3.0),
    "stops": ExecutionSettings(
        direction="long_short", stop_loss=0.01, take_profit=0.02, position_size=0.7
    ),
    "trail_atr": ExecutionSettings(
        direction="short_only", trailing_stop=AtrMultiple(2.0), stop_loss=AtrMultiple(3.0)
    ),
    "trail": ExecutionSettings(
        direction="long_short", trailing_stop=0.015, take_profit=AtrMultiple(4.0), fee_rate=0.001
    ),
}
# Every trade column the kernel had before perpetuals (`funding` is new).
TRADE_FIELDS = tuple(f.name for f in dataclasses.fields(Trades) if f.name != "funding")
METRICS = (
    "final_equity",
    "total_return",
    "cagr",
    "sharpe",
    "sortino",
    "max_drawdown",
    "calmar",
    "num_trades",
    "win_rate",
    "profit_factor",
    "avg_trade_return",
    "exposure",
    "fees_paid",
)


@pytest.mark.parametrize("contract", ["spot", "linear"])
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize(
    ("dataset", "frame", "interval"), [("EURUSD", EURUSD, "60"), ("GOOG", GOOG, "D")]
)
def test_leverage_one_without_funding_is_bit_identical(
    dataset: str, frame: pd.DataFrame, interval: str, case: str, contract: Contract
) -> None:
    execution = dataclasses.replace(CASES[case], contract=contract, leverage=1.0, funding=False)
    config = BacktestConfig("sma_cross", {"fast": 10, "slow": 30}, interval, execution)
    result = run_backtest(_candles(frame), config, trade_from=40)
    key = f"{dataset}/{case}/"
    assert result.equity.tobytes() == GOLDEN[key + "equity"].tobytes()
    for field in TRADE_FIELDS:
        assert getattr(result.trades, field).tobytes() == GOLDEN[key + field].tobytes(), field
    values = [result.metrics[m] for m in METRICS]
    got = np.array([np.nan if v is None else float(v) for v in values])
    assert got.tobytes() == GOLDEN[key + "metrics"].tobytes()
    assert result.metrics["funding_paid"] == 0.0
    assert result.metrics["liquidations"] == 0
