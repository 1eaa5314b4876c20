"""The metrics every backtest and optimization row reports, and which way each is better."""

METRIC_KEYS = (
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
LOWER_IS_BETTER = frozenset({"max_drawdown"})
