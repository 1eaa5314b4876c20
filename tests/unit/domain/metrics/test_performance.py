"""Metrics on small hand-computed cases, and None wherever a metric is undefined."""

import math
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import pytest

from domain.metrics.names import METRIC_KEYS
from domain.metrics.performance import (
    Metric,
    bars_per_year,
    compute_metrics,
    curve_sums,
    per_bar_returns,
    return_ratios,
    span_of,
)

DAY = 86_400_000


def metrics(
    equity: Sequence[float],
    pnl: Sequence[float] = (),
    returns: Sequence[float] = (),
    interval: str = "D",
    times: Sequence[int] | None = None,
    trades: int | None = None,
    fees: float = 0.0,
    held: int = 0,
) -> dict[str, Metric]:
    values = np.array(equity, np.float64)
    open_time = np.arange(values.size, dtype=np.int64) * DAY
    if times is not None:
        open_time = np.array(times, np.int64)
    return compute_metrics(
        values,
        span_of(open_time),
        interval,
        10_000.0,
        closed_pnl=np.array(pnl, np.float64),
        closed_returns=np.array(returns, np.float64),
        num_trades=len(pnl) if trades is None else trades,
        fees_paid=fees,
        bars_held=held,
    )


def test_hand_computed_case() -> None:
    m = metrics(
        [10_100, 9_999, 10_500],
        pnl=[30.0, -20.0, 10.0],
        returns=[0.03, -0.02, 0.01],
        trades=4,
        fees=12.5,
        held=2,
    )
    assert list(m) == list(METRIC_KEYS)
    r = [0.01, 9_999 / 10_100 - 1, 10_500 / 9_999 - 1]
    mean = sum(r) / 3
    std = math.sqrt(sum((x - mean) ** 2 for x in r) / 2)
    downside = math.sqrt(sum(min(x, 0) ** 2 for x in r) / 3)
    growth = 1.05 ** (365 / 3) - 1
    drawdown = 1 - 9_999 / 10_100
    assert m["final_equity"] == 10_500
    assert m["total_return"] == pytest.approx(0.05)
    assert m["cagr"] == pytest.approx(growth, rel=1e-12)
    assert m["sharpe"] == pytest.approx(mean / std * math.sqrt(365), rel=1e-12)
    assert m["sortino"] == pytest.approx(mean / downside * math.sqrt(365), rel=1e-12)
    assert m["max_drawdown"] == pytest.approx(drawdown, rel=1e-12)
    assert m["calmar"] == pytest.approx(growth / drawdown, rel=1e-12)
    assert m["num_trades"] == 4
    assert m["win_rate"] == pytest.approx(2 / 3)
    assert m["profit_factor"] == pytest.approx(2.0)
    assert m["avg_trade_return"] == pytest.approx(0.02 / 3)
    assert m["exposure"] == pytest.approx(2 / 3)
    assert m["fees_paid"] == 12.5


def test_undefined_metrics_are_none() -> None:
    m = metrics([10_000, 10_000, 10_000])
    assert m["sharpe"] is None  # zero variance
    assert m["sortino"] is None  # no downside
    assert m["max_drawdown"] == 0.0
    assert m["calmar"] is None
    assert m["win_rate"] is None and m["profit_factor"] is None
    assert m["avg_trade_return"] is None
    assert m["num_trades"] == 0
    assert m["cagr"] == 0.0
    assert m["exposure"] == 0.0


def test_profit_factor_without_losses_is_none() -> None:
    m = metrics([10_000, 10_010], pnl=[10.0], returns=[0.001])
    assert m["profit_factor"] is None
    assert m["win_rate"] == 1.0
    assert m["sortino"] is None  # no negative return: no downside deviation


def test_single_bar_has_no_sharpe() -> None:
    m = metrics([10_100])
    assert m["sharpe"] is None
    assert m["sortino"] is None
    assert m["final_equity"] == 10_100


def test_never_nan_or_infinite() -> None:
    # A blow-up to zero and a one-minute explosion of wealth.
    for m in (
        metrics([5_000, 0.0, 0.0], pnl=[-10_000.0], returns=[-1.0]),
        metrics([1e6, 1e7], interval="1", times=[0, 60_000]),
        metrics([]),
    ):
        for key, value in m.items():
            assert value is None or math.isfinite(value), key
    assert metrics([5_000, 0.0, 0.0])["cagr"] == -1.0
    assert metrics([1e6, 1e7], interval="1", times=[0, 60_000])["cagr"] is None


def test_bars_per_year() -> None:
    assert bars_per_year("1") == 525_600
    assert bars_per_year("60") == 8_760
    assert bars_per_year("D") == 365
    assert bars_per_year("W") == pytest.approx(52.142857, rel=1e-6)
    assert bars_per_year("M") == pytest.approx(12)


def test_cagr_counts_one_calendar_month_for_the_last_monthly_bar() -> None:
    jan = int(datetime(2023, 1, 1, tzinfo=UTC).timestamp() * 1000)
    dec = int(datetime(2023, 12, 1, tzinfo=UTC).timestamp() * 1000)
    m = metrics([10_000, 11_000], interval="M", times=[jan, dec])
    assert m["cagr"] == pytest.approx(0.1, rel=1e-12)  # exactly 365 days


@pytest.mark.parametrize("size", [1, 2, 7, 8, 9, 127, 128, 129, 255, 1_000, 8_193, 100_003])
def test_sharpe_and_sortino_are_numpys_to_the_bit(size: int) -> None:
    """The compiled sums follow numpy's pairwise order: the ratios np.mean, np.std (ddof 1)
    and the mean of np.minimum(r, 0) ** 2 give, bit for bit."""
    rng = np.random.default_rng(size)
    returns = rng.standard_normal(size) * 1e-3 + 2e-5
    returns[::7] *= 1e3
    mean = float(np.mean(returns))
    expected_sharpe = None
    if size >= 2:
        expected_sharpe = mean / float(np.std(returns, ddof=1)) * math.sqrt(525_600)
    downside = math.sqrt(float(np.mean(np.minimum(returns, 0.0) ** 2)))
    sharpe, sortino = return_ratios(returns, 525_600.0)
    assert repr(sharpe) == repr(expected_sharpe)
    expected_sortino = mean / downside * math.sqrt(525_600) if downside else None
    assert repr(sortino) == repr(expected_sortino)


def _slow_drawdown(equity: np.ndarray) -> float:
    """max over t of 1 - equity_t / max(equity_0..t), bar by bar; NaN after a NaN."""
    drawdown = peak = -math.inf
    for value in equity:
        if value != value:
            return math.nan
        peak = max(peak, value)
        fall = 1.0 - value / peak
        if fall != fall:
            return math.nan
        drawdown = max(drawdown, fall)
    return drawdown


@pytest.mark.parametrize("size", [1, 2, 8, 9, 64, 129, 300, 1_000, 8_193, 40_001])
@pytest.mark.parametrize("shape", ["walk", "blown_up", "nan"])
def test_curve_sums_are_numpys_and_the_bar_by_bar_drawdown_to_the_bit(
    size: int, shape: str
) -> None:
    rng = np.random.default_rng(size)
    equity = np.asarray(10_000.0 * np.cumprod(1.0 + rng.standard_normal(size) * 1e-2), np.float64)
    if shape == "blown_up":
        equity[size // 2 :] -= 2.0 * equity[size // 2]
    if shape == "nan":
        equity[size // 3] = np.nan
    curve = curve_sums(equity, 10_000.0)
    returns = per_bar_returns(equity, 10_000.0)
    assert curve.returns.tobytes() == returns.tobytes()
    assert repr(curve.max_drawdown) == repr(float(_slow_drawdown(equity)))
    mean = np.mean(returns)
    assert repr(curve.mean) == repr(float(mean))
    assert repr(curve.deviations) == repr(float(np.sum((returns - mean) ** 2)))
    assert repr(curve.downside_square) == repr(float(np.mean(np.minimum(returns, 0.0) ** 2)))
