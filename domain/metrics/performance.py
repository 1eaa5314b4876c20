"""The metrics of one equity curve and its trades (docs/simulation.md); undefined ones are None."""

import math

import numpy as np
import numpy.typing as npt

from domain.market.intervals import DAY_MS, add_intervals, interval_minutes
from domain.research.sharpe_inference import ReturnMoments, probabilistic_sharpe

Metric = float | int | None
FloatArray = npt.NDArray[np.float64]

YEAR_MS = 365 * DAY_MS


def bars_per_year(interval: str) -> float:
    """525600 / interval minutes (D: 365, W: 52.142857…, M: 12)."""
    return 525_600 / interval_minutes(interval)


def finite_or_none(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def per_bar_returns(equity: FloatArray, initial_capital: float) -> FloatArray:
    """r_t = equity_t / equity_{t-1} - 1, with equity_{-1} = initial capital."""
    previous = np.empty_like(equity)
    if equity.size:
        previous[0] = initial_capital
        previous[1:] = equity[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        return equity / previous - 1.0


def sharpe_ratio(returns: FloatArray, periods_per_year: float) -> float | None:
    if returns.size < 2:
        return None
    deviation = float(np.std(returns, ddof=1))
    if deviation == 0.0 or not math.isfinite(deviation):
        return None
    return finite_or_none(float(np.mean(returns)) / deviation * math.sqrt(periods_per_year))


def sortino_ratio(returns: FloatArray, periods_per_year: float) -> float | None:
    if returns.size == 0:
        return None
    downside = math.sqrt(float(np.mean(np.minimum(returns, 0.0) ** 2)))
    if downside == 0.0 or not math.isfinite(downside):
        return None
    return finite_or_none(float(np.mean(returns)) / downside * math.sqrt(periods_per_year))


def max_drawdown(equity: FloatArray) -> float | None:
    """max over t of 1 - equity_t / max(equity_0..t), as a positive fraction."""
    if equity.size == 0:
        return None
    peaks = np.maximum.accumulate(equity)
    with np.errstate(divide="ignore", invalid="ignore"):
        return finite_or_none(float(np.max(1.0 - equity / peaks)))


def cagr(final: float, initial: float, elapsed_ms: int) -> float | None:
    if elapsed_ms <= 0:
        return None
    if final <= 0.0:
        return -1.0  # everything lost; a fractional power of a negative ratio is undefined
    try:
        return finite_or_none((final / initial) ** (YEAR_MS / elapsed_ms) - 1.0)
    except OverflowError:
        return None


def compute_metrics(
    equity: FloatArray,
    open_time: npt.NDArray[np.int64],
    interval: str,
    initial_capital: float,
    closed_pnl: FloatArray,
    closed_returns: FloatArray,
    num_trades: int,
    fees_paid: float,
    bars_held: int,
    funding_paid: float = 0.0,
    liquidations: int = 0,
) -> dict[str, Metric]:
    """Every metric of docs/simulation.md's table, keyed as there."""
    if equity.size == 0:
        final = initial_capital
        elapsed_ms = 0
    else:
        final = float(equity[-1])
        elapsed_ms = add_intervals(int(open_time[-1]), interval, 1) - int(open_time[0])
    returns = per_bar_returns(equity, initial_capital)
    periods = bars_per_year(interval)
    growth = cagr(final, initial_capital, elapsed_ms)
    drawdown = max_drawdown(equity)
    gains = float(closed_pnl[closed_pnl > 0].sum())
    losses = -float(closed_pnl[closed_pnl < 0].sum())
    closed = closed_pnl.size
    return {
        "final_equity": finite_or_none(final),
        "total_return": finite_or_none(final / initial_capital - 1.0),
        "cagr": growth,
        "sharpe": sharpe_ratio(returns, periods),
        "sortino": sortino_ratio(returns, periods),
        "max_drawdown": drawdown,
        "calmar": finite_or_none(growth / drawdown) if growth is not None and drawdown else None,
        "num_trades": num_trades,
        "win_rate": float(np.count_nonzero(closed_pnl > 0) / closed) if closed else None,
        "profit_factor": finite_or_none(gains / losses) if losses > 0 else None,
        "avg_trade_return": finite_or_none(float(np.mean(closed_returns))) if closed else None,
        "exposure": bars_held / equity.size if equity.size else None,
        "fees_paid": finite_or_none(fees_paid),
        "funding_paid": finite_or_none(funding_paid),
        "liquidations": liquidations,
        "psr": probabilistic_sharpe(ReturnMoments.of(returns)),
    }
