"""The kernel's limit entries, maker fees, time stops, risk sizing, detail candles and
exact-time funding against the slow, obvious simulation of tests/unit/orders_reference.py,
on random hourly bars with 15-minute detail (some bars missing theirs) and random funding
times at their open, inside them, or in gaps of the data."""

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.backtest import simulate_targets
from domain.execution.fill_detail import FillDetail
from domain.execution.settings import ExecutionSettings, LimitEntry
from domain.market.candles import Candles
from domain.market.perp_market import perp_market
from tests.support import orders_reference as ref

HOUR = 3_600_000
QUARTER = HOUR // 4


def _walk(rng: np.random.Generator, count: int, start: float) -> list[tuple[float, ...]]:
    """`count` 15-minute candles (open, high, low, close) of a random walk."""
    rows: list[tuple[float, ...]] = []
    price = start
    for _ in range(count):
        open_ = price * math.exp(rng.normal(0, 0.002))
        close = open_ * math.exp(rng.normal(0, 0.01))
        high = max(open_, close) * math.exp(abs(rng.normal(0, 0.005)))
        low = min(open_, close) * math.exp(-abs(rng.normal(0, 0.005)))
        rows.append((open_, high, low, close))
        price = close
    return rows


def _market(seed: int, bars: int) -> tuple[list[ref.Bar], Candles, Candles]:
    """Hourly bars (one hour missing now and then) aggregated from 15-minute candles, of which
    some bars keep only some."""
    rng = np.random.default_rng(seed)
    hours = np.cumsum(rng.choice([1, 1, 1, 1, 1, 1, 2], size=bars)).astype(np.int64)
    quarters = _walk(rng, 4 * bars, 100.0)
    ref_bars: list[ref.Bar] = []
    detail_rows: list[tuple[int, tuple[float, ...]]] = []
    for i, hour in enumerate(hours):
        rows = quarters[4 * i : 4 * i + 4]
        time = int(hour) * HOUR
        kept = rng.random() > 0.15
        quarter_candles = [
            ref.Candle(time + k * QUARTER, time + (k + 1) * QUARTER, *row[:3])
            for k, row in enumerate(rows)
        ]
        high = max(r[1] for r in rows)
        low = min(r[2] for r in rows)
        ref_bars.append(
            ref.Bar(
                time,
                time + HOUR,
                rows[0][0],
                high,
                low,
                rows[-1][3],
                quarter_candles if kept else [],
            )
        )
        stored = range(4) if kept else sorted(rng.choice(4, size=rng.integers(0, 4), replace=False))
        detail_rows += [(time + k * QUARTER, rows[k]) for k in stored]
    candles = Candles(
        np.array([b.time for b in ref_bars], np.int64),
        np.array([b.open for b in ref_bars]),
        np.array([b.high for b in ref_bars]),
        np.array([b.low for b in ref_bars]),
        np.array([b.close for b in ref_bars]),
        np.ones(bars),
        np.ones(bars),
    )
    d = np.array([row for _, row in detail_rows]).reshape(-1, 4)
    detail = Candles(
        np.array([t for t, _ in detail_rows], np.int64),
        d[:, 0].copy(),
        d[:, 1].copy(),
        d[:, 2].copy(),
        d[:, 3].copy(),
        np.ones(len(d)),
        np.ones(len(d)),
    )
    return ref_bars, candles, detail


SETUPS = st.fixed_dictionaries(
    {
        "fill_at_close": st.booleans(),
        "slippage": st.sampled_from([0.0, 0.0005]),
        "position_size": st.sampled_from([1.0, 0.5]),
        "stop_loss": st.sampled_from([None, 0.004, 0.01, 0.03]),
        "take_profit": st.sampled_from([None, 0.006, 0.02]),
        "trailing": st.sampled_from([None, 0.008]),
        "limit": st.sampled_from([None, (0.0, 1), (0.002, 3), (0.01, 2)]),
        "max_bars": st.sampled_from([None, 1, 3]),
        "risk": st.sampled_from([None, 0.01]),
        "leverage": st.sampled_from([1.0, 20.0, 60.0]),
    }
)


def _ours(
    candles: Candles,
    detail: Candles | None,
    targets: list[int],
    setup: ref.Setup,
    fundings: list[tuple[int, float]],
    long_short: bool,
) -> Any:
    limit = None if setup.limit is None else LimitEntry(*setup.limit)
    execution = ExecutionSettings(
        fee_rate=setup.fee,
        maker_fee_rate=setup.maker_fee,
        slippage_bps=setup.slippage * 10_000,
        direction="long_short" if long_short else "long_only",
        fill="close" if setup.fill_at_close else "next_open",
        position_size=setup.position_size,
        stop_loss=setup.stop_loss,
        take_profit=setup.take_profit,
        trailing_stop=setup.trailing,
        contract="linear",
        leverage=setup.leverage,
        funding=True,
        maintenance_margin_rate=setup.mmr,
        entry_order=limit,
        max_bars_in_trade=setup.max_bars,
        risk=setup.risk,
        fill_detail=None if detail is None else "15",
    )
    times = np.array([t for t, _ in fundings], np.int64)
    rates = np.array([r for _, r in fundings], np.float64)
    market = perp_market(candles, "60", candles, times, rates)
    fill_detail = None if detail is None else FillDetail("15", detail)
    return simulate_targets(
        candles, np.array(targets, np.int8), execution, "60", market=market, detail=fill_detail
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    options=SETUPS,
    with_detail=st.booleans(),
    long_short=st.booleans(),
)
def test_the_kernel_matches_the_slow_reference(
    seed: int, options: dict[str, Any], with_detail: bool, long_short: bool
) -> None:
    n = 60
    bars, candles, detail = _market(seed, n)
    rng = np.random.default_rng(seed + 1)
    choices = [-1, 0, 1] if long_short else [0, 1]
    targets = [int(x) for x in np.repeat(rng.choice(choices, size=n // 3), 3)]
    # Funding times on the quarter hours: at bar opens, inside bars and in gaps.
    first, last = int(candles.open_time[0]), int(candles.open_time[-1]) + HOUR
    quarters = rng.choice(np.arange(first, last, QUARTER), size=12, replace=False)
    fundings = [(int(t), float(rng.normal(0.0002, 0.0005))) for t in np.sort(quarters)]
    setup = ref.Setup(**options)
    if not with_detail:
        bars = [ref.Bar(b.time, b.end, b.open, b.high, b.low, b.close) for b in bars]
    trades, equity, unfilled = ref.simulate(bars, targets, setup, fundings)
    ours = _ours(candles, detail if with_detail else None, targets, setup, fundings, long_short)

    assert len(ours.trades) == len(trades)
    got = ours.trades.records()
    for mine, theirs in zip(got, trades, strict=True):
        assert mine["entry_time"] == bars[theirs.entry_bar].time
        assert mine["entry_price"] == pytest.approx(theirs.entry_price, rel=1e-12)
        assert mine["qty"] == pytest.approx(theirs.qty, rel=1e-9)
        assert mine["exit_reason"] == theirs.reason
        if theirs.exit_bar >= 0:
            assert mine["exit_time"] == bars[theirs.exit_bar].time
        assert mine["exit_price"] == pytest.approx(theirs.exit_price, rel=1e-12)
        assert mine["fees"] == pytest.approx(theirs.fees, rel=1e-9, abs=1e-9)
        assert mine["funding"] == pytest.approx(theirs.funding, rel=1e-9, abs=1e-9)
        assert mine["pnl"] == pytest.approx(theirs.pnl, rel=1e-9, abs=1e-7)
    np.testing.assert_allclose(ours.equity, equity, rtol=1e-9)
    assert ours.metrics["unfilled_orders"] == unfilled
