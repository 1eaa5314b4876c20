"""What each of the engine's pool processes runs once when it starts, before it takes a job:
a small backtest, grid chunk and portfolio through the same functions a job calls (and a
backtest and grid chunk of an expression strategy's rules), so that
their compiled kernels are loaded from the numba cache on disk (or compiled into it, on a
machine's first start) then, and no job pays for it."""

import numpy as np

from domain.market.candles import Candles
from domain.portfolio_backtest import SymbolSeries
from domain.strategies import strategy_entry
from domain.strategies.definitions import definition_of
from services.engine.backtests.in_pool import simulate
from services.engine.backtests.parsed_request import parse_backtest
from services.engine.backtests.portfolio_in_pool import simulate_portfolio
from services.engine.optimization.in_pool import evaluate_sets
from services.engine.optimization.parsed_request import parse_optimization

BARS = 64
BACKTEST = {
    "category": "linear",
    "symbol": "WARMUP",
    "interval": "1",
    "start": 0,
    "end": BARS * 60_000,
    "strategy": {"name": "sma_cross", "params": {"fast": 2, "slow": 5}},
    "stop_loss": {"atr": 2},  # ATR stops compile the ATR too
    "take_profit": 0.05,
}


def _expression_strategy() -> dict[str, object]:
    """sma_cross as rules, with an explicit exit and a comparison to a number: the rules'
    compiled comparisons (of two series, and of a series and a number) and positions."""
    definition = definition_of(strategy_entry("sma_cross")).as_json()
    definition["long_exit"] = "close < sma(close, slow) or close <= 0"
    return {"definition": definition, "params": {"fast": 2, "slow": 5}}


def warm_up() -> None:
    prices = np.linspace(100.0, 110.0, BARS)
    candles = Candles(
        np.arange(BARS, dtype=np.int64) * 60_000,
        prices,
        prices + 1,
        prices - 1,
        prices,
        np.ones(BARS),
        prices,
    )
    simulate(candles, parse_backtest(BACKTEST)[1])
    grid = {"kind": "grid", "backtest": BACKTEST, "param_grid": {"fast": [2, 3]}}
    sets = [{"fast": 2, "slow": 5}, {"fast": 3, "slow": 5}]
    evaluate_sets(candles, parse_optimization(grid)[1], sets, 0)
    expression = {**BACKTEST, "strategy": _expression_strategy()}
    simulate(candles, parse_backtest(expression)[1])
    grid = {"kind": "grid", "backtest": expression, "param_grid": {"fast": [2, 3]}}
    evaluate_sets(candles, parse_optimization(grid)[1], sets, 0)
    portfolio = {k: v for k, v in BACKTEST.items() if k not in ("symbol", "stop_loss")}
    series = [SymbolSeries(symbol, candles, 0, None) for symbol in ("WARMUP", "WARMUP2")]
    simulate_portfolio(series, parse_backtest({**portfolio, "symbols": ["WARMUP", "WARMUP2"]})[1])
