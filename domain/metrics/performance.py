"""The metrics of one equity curve and its trades (docs/simulation.md); undefined ones are None."""

import math

import numpy as np
import numpy.typing as npt
from numba import njit

from domain.market.intervals import DAY_MS, add_intervals, interval_minutes
from domain.research.sharpe_inference import ReturnMoments, probabilistic_sharpe

Metric = float | int | None
FloatArray = npt.NDArray[np.float64]
# The open times of a curve's first and last bars; None for a curve without bars.
Span = tuple[int, int] | None

YEAR_MS = 365 * DAY_MS


def bars_per_year(interval: str) -> float:
    """525600 / interval minutes (D: 365, W: 52.142857…, M: 12)."""
    return 525_600 / interval_minutes(interval)


def finite_or_none(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(value)


@njit(cache=True, error_model="numpy")
def per_bar_returns(equity: FloatArray, initial_capital: float) -> FloatArray:
    """r_t = equity_t / equity_{t-1} - 1, with equity_{-1} = initial capital (one compiled pass:
    at a grid's scale numpy's temporaries would cost more than the simulation)."""
    returns = np.empty(equity.size)
    if equity.size:
        returns[0] = equity[0] / initial_capital - 1.0
    for i in range(1, equity.size):
        returns[i] = equity[i] / equity[i - 1] - 1.0
    return returns


def span_of(open_time: npt.NDArray[np.int64]) -> Span:
    return (int(open_time[0]), int(open_time[-1])) if open_time.size else None


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
    return finite_or_none(_max_drawdown(equity)) if equity.size else None


@njit(cache=True, error_model="numpy")
def _max_drawdown(equity: FloatArray) -> float:
    """While the running peak is positive, the deepest fall below it is at the lowest equity
    before the next peak, so one division per peak replaces one per bar; the exact same
    quotient comes out, division being monotonic. A peak at or below zero (a blown-up
    account) takes the per-bar route."""
    drawdown = -np.inf
    peak = -np.inf
    trough = np.inf
    for i in range(equity.size):
        value = equity[i]
        if value != value:
            return np.nan
        if value > peak:
            if peak > 0.0:
                drawdown = max(drawdown, 1.0 - trough / peak)
            peak = value
            trough = value
        elif value < trough:
            trough = value
        if peak <= 0.0:
            fall = 1.0 - value / peak
            if fall != fall:
                return np.nan
            drawdown = max(drawdown, fall)
    if peak > 0.0:
        drawdown = max(drawdown, 1.0 - trough / peak)
    return drawdown


def cagr(final: float, initial: float, elapsed_ms: int) -> float | None:
    if elapsed_ms <= 0:
        return None
    if final <= 0.0:
        return -1.0  # everything lost; a fractional power of a negative ratio is undefined
    try:
        return finite_or_none((final / initial) ** (YEAR_MS / elapsed_ms) - 1.0)
    except OverflowError:
        return None


def buy_and_hold_return(first_open: float, last_close: float) -> float | None:
    """`benchmark_return`: bought at the first bar's open, marked at the last bar's close."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return finite_or_none(float(np.float64(last_close) / np.float64(first_open) - 1.0))


def side_metrics(
    closed_pnl: FloatArray,
    closed_sides: npt.NDArray[np.int8] | None,
    closed_bars_held: npt.NDArray[np.int64] | None,
) -> dict[str, Metric]:
    """The closed trades by side, and how long they were held on average; None without the
    trades' sides or holding times."""
    if closed_sides is None or closed_bars_held is None:
        keys = ("avg_bars_held", "long_trades", "short_trades", "long_pnl", "short_pnl")
        return dict.fromkeys(keys)
    longs = closed_sides > 0
    return {
        "avg_bars_held": float(np.mean(closed_bars_held)) if closed_bars_held.size else None,
        "long_trades": int(np.count_nonzero(longs)),
        "short_trades": int(np.count_nonzero(~longs)),
        "long_pnl": finite_or_none(float(closed_pnl[longs].sum())),
        "short_pnl": finite_or_none(float(closed_pnl[~longs].sum())),
    }


def compute_metrics(
    equity: FloatArray,
    span: Span,
    interval: str,
    initial_capital: float,
    closed_pnl: FloatArray,
    closed_returns: FloatArray,
    num_trades: int,
    fees_paid: float,
    bars_held: int,
    funding_paid: float = 0.0,
    liquidations: int = 0,
    closed_sides: npt.NDArray[np.int8] | None = None,
    closed_bars_held: npt.NDArray[np.int64] | None = None,
    benchmark_return: float | None = None,
    returns: FloatArray | None = None,
    moments: ReturnMoments | None = None,
) -> dict[str, Metric]:
    """Every metric of docs/simulation.md's table, keyed as there: the one assembly that a
    backtest, an optimization's sets and the chained walk-forward windows all use. `returns`
    and `moments` may be given when the caller already has them."""
    if equity.size == 0 or span is None:
        final = initial_capital if equity.size == 0 else float(equity[-1])
        elapsed_ms = 0
    else:
        final = float(equity[-1])
        elapsed_ms = add_intervals(span[1], interval, 1) - span[0]
    if returns is None:
        returns = per_bar_returns(equity, initial_capital)
    if moments is None:
        moments = ReturnMoments.of(returns)
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
        "psr": probabilistic_sharpe(moments),
        **side_metrics(closed_pnl, closed_sides, closed_bars_held),
        "benchmark_return": benchmark_return,
    }
