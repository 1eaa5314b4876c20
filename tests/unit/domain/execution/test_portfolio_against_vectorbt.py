"""The portfolio loop against vectorbt's `cash_sharing` portfolio where their rules coincide:
equal stakes of 1/N of the account (vectorbt's `targetpercent` sizing on the group's value),
fills at the close (vectorbt values the group at the fill prices), no fees (vectorbt adds
them on top of the stake), no stops, every symbol on one timeline, K = N slots. Exits come
first at each fill time in both (vectorbt's `call_seq="auto"`), and an entry above the free
cash is cut to it in both."""

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
import pytest
import vectorbt as vbt

from domain.execution.config import BacktestConfig
from domain.execution.settings import ExecutionSettings
from domain.portfolio_backtest import PortfolioRules, SymbolSeries, run_portfolio
from domain.targets.strategy_targets import StrategyTargets
from tests.support.market import T0, random_walk

SYMBOLS = ["AAAUSDT", "BBBUSDT", "CCCUSDT", "DDDUSDT"]


@pytest.mark.parametrize(("fast", "slow"), [(5, 20), (10, 40)])
def test_equal_stakes_at_the_close_match_vectorbt_cash_sharing(fast: int, slow: int) -> None:
    series = [
        SymbolSeries(s, random_walk(T0, 1500, "60", seed=21 + i), 0) for i, s in enumerate(SYMBOLS)
    ]
    execution = ExecutionSettings(fee_rate=0.0, fill="close", contract="spot", funding=False)
    config = BacktestConfig("sma_cross", {"fast": fast, "slow": slow}, "60", execution)
    result = run_portfolio(series, config, PortfolioRules(len(SYMBOLS)))

    index = pd.DatetimeIndex(series[0].candles.open_time.astype("datetime64[ms]"))
    close = pd.DataFrame({one.symbol: one.candles.close for one in series}, index=index)
    targets = pd.DataFrame(
        {
            one.symbol: StrategyTargets(config.strategy_entry(), one.candles)(
                config.params, "long_only"
            )
            for one in series
        },
        index=index,
    )
    previous = targets.shift(1, fill_value=0)
    changed = targets != previous
    # An entry targets 1/N of the group's value, an exit 0; NaN: no order.
    size = np.where(changed & (targets == 1), 1.0 / len(SYMBOLS), np.nan)
    size = np.where(changed & (previous == 1) & (targets == 0), 0.0, size)
    portfolio = vbt.Portfolio.from_orders(
        close,
        size=pd.DataFrame(size, index=index, columns=close.columns),
        size_type="targetpercent",
        cash_sharing=True,
        group_by=True,
        call_seq="auto",
        init_cash=execution.initial_capital,
        fees=0.0,
        freq="1h",
    )
    assert len(result.trades) > 40
    np.testing.assert_allclose(result.equity, portfolio.value().to_numpy(), rtol=1e-9)
    records = portfolio.trades.records_readable.sort_values(["Entry Timestamp", "Column"])
    mine = sorted(
        range(len(result.trades)),
        key=lambda i: (result.trades.entry_time[i], result.trade_symbols[i]),
    )
    assert len(records) == len(mine)
    for i, (_, row) in zip(mine, records.iterrows(), strict=True):
        assert result.trade_symbols[i] == row["Column"]
        assert result.trades.qty[i] == pytest.approx(row["Size"], rel=1e-9)
        assert result.trades.pnl[i] == pytest.approx(row["PnL"], rel=1e-9, abs=1e-9)
