"""The metrics every backtest and optimization row reports (docs/simulation.md, Metrics): each
key once, with its kind, its meaning and which way is better."""

from typing import Literal

MetricKind = Literal["float", "int"]

# key -> (kind, what it means); the order is the order the API lists them in.
METRICS: dict[str, tuple[MetricKind, str]] = {
    "final_equity": ("float", "cash + position at the last close"),
    "total_return": ("float", "final_equity / initial_capital - 1"),
    "cagr": ("float", "compound annual growth rate"),
    "sharpe": ("float", "annualized, risk-free 0"),
    "sortino": ("float", "annualized, downside deviation"),
    "max_drawdown": ("float", "largest fall from a peak, a fraction"),
    "calmar": ("float", "cagr / max_drawdown"),
    "num_trades": ("int", "closed and open trades"),
    "win_rate": ("float", "closed trades with pnl > 0, a fraction"),
    "profit_factor": ("float", "gross profit / gross loss"),
    "avg_trade_return": ("float", "mean return of closed trades"),
    "exposure": ("float", "fraction of bars holding a position"),
    "fees_paid": ("float", "sum of all fees"),
    "funding_paid": ("float", "net funding paid (negative: received); 0 on spot"),
    "liquidations": ("int", "trades closed by liquidation"),
    "psr": ("float", "probabilistic Sharpe ratio against 0, from the per-bar returns"),
    "avg_bars_held": ("float", "mean bars_held of closed trades (bar closes in the position)"),
    "long_trades": ("int", "closed long trades"),
    "short_trades": ("int", "closed short trades"),
    "long_pnl": ("float", "sum of closed long trades' pnl"),
    "short_pnl": ("float", "sum of closed short trades' pnl"),
    "benchmark_return": ("float", "buy and hold: the last bar's close / the first bar's open - 1"),
}

METRIC_KEYS = tuple(METRICS)
LOWER_IS_BETTER = frozenset({"max_drawdown", "funding_paid", "liquidations"})
