"""Properties over generated markets: no look-ahead, and costs never help."""

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from domain.backtest import run_backtest, simulate_targets
from domain.execution.config import BacktestConfig
from domain.execution.settings import ExecutionSettings, LimitEntry
from domain.market.candles import Candles
from domain.targets.indicator_cache import IndicatorCache
from domain.targets.signals import target_positions
from tests.support.generated_markets import (
    SETTINGS,
    executions,
    market,
    moves,
    strategies_with_params,
    wicks,
)


@SETTINGS
@given(
    base=moves,
    other=moves,
    wick=wicks,
    cut=st.floats(0.0, 1.0),
    strategy_params=strategies_with_params,
    execution=executions,
)
def test_nothing_at_bar_t_depends_on_later_bars(
    base, other, wick, cut, strategy_params, execution
) -> None:
    strategy, params = strategy_params
    t = int(cut * (base.size - 1))
    original = market(base, wick, 0.002)
    other_market = market(np.resize(other, base.size), wick * 0.5 + 0.001, 0.004)
    # Bar t and before are identical in both; every later bar differs.
    perturbed = Candles(
        *(
            np.concatenate([getattr(original, f)[: t + 1], getattr(other_market, f)[t + 1 :]])
            for f in ("open_time", "open", "high", "low", "close", "volume", "turnover")
        )
    )
    config = BacktestConfig(strategy, params, "1", execution)
    results = [run_backtest(c, config) for c in (original, perturbed)]
    targets = [
        target_positions(IndicatorCache(c), strategy, config.params, execution.direction)
        for c in (original, perturbed)
    ]
    assert np.array_equal(targets[0][: t + 1], targets[1][: t + 1])
    assert np.array_equal(results[0].equity[: t + 1], results[1].equity[: t + 1])
    entered = [r.trades.entry_time <= t * 60_000 for r in results]
    assert np.array_equal(
        results[0].trades.entry_price[entered[0]], results[1].trades.entry_price[entered[1]]
    )


@SETTINGS
@given(
    walk=moves,
    wick=wicks,
    raw_targets=arrays(np.int8, 120, elements=st.sampled_from([-1, 0, 1])),
    execution=executions,
    fee=st.floats(0.0001, 0.01),
    slippage=st.floats(0.1, 50.0),
)
def test_fees_and_slippage_never_raise_final_equity(
    walk, wick, raw_targets, execution, fee, slippage
) -> None:
    candles = market(walk, wick, 0.002)
    targets = raw_targets[: len(candles)]

    def equity(fee_rate: float, slippage_bps: float, stops: bool = True) -> np.ndarray:
        ex = ExecutionSettings(
            fee_rate=fee_rate,
            slippage_bps=slippage_bps,
            direction=execution.direction,
            fill=execution.fill,
            position_size=execution.position_size,
            stop_loss=execution.stop_loss if stops else None,
            take_profit=execution.take_profit if stops else None,
        )
        return simulate_targets(candles, targets, ex, "1").equity

    def final(fee_rate: float, slippage_bps: float, stops: bool = True) -> float:
        return float(equity(fee_rate, slippage_bps, stops)[-1])

    def lowest(fee_rate: float, slippage_bps: float, stops: bool = True) -> float:
        return float(equity(fee_rate, slippage_bps, stops).min())

    # Costs make a position smaller: a short held while the price more than doubles (or one
    # that loses beyond the account) then loses less than the costs cost. The claim is for
    # markets that do not double and accounts that stay solvent.
    assume(float(candles.close.max()) < 2 * float(candles.close.min()))
    assume(min(lowest(0.0, 0.0), lowest(0.0, 0.0, stops=False), lowest(fee, 0.0, False)) > 0)
    # Fees leave stop levels alone, so with stops the path is the same and only costs more.
    assert final(fee, 0.0) <= final(0.0, 0.0) * (1 + 1e-12)
    # Slippage moves entry prices and with them stop levels; without stops it only costs.
    assert final(0.0, slippage, stops=False) <= final(0.0, 0.0, stops=False) * (1 + 1e-12)
    assert final(fee, slippage, stops=False) <= final(fee, 0.0, stops=False) * (1 + 1e-12)


@SETTINGS
@given(
    walk=moves,
    wick=wicks,
    raw_targets=arrays(np.int8, 120, elements=st.sampled_from([-1, 0, 1])),
    direction=st.sampled_from(["long_only", "short_only", "long_short"]),
    fill=st.sampled_from(["next_open", "close"]),
    position_size=st.floats(0.1, 1.0),
    entry_order=st.sampled_from([None, LimitEntry(0.001, 3)]),
    max_bars_in_trade=st.sampled_from([None, 4]),
)
def test_bars_only_marked_give_the_full_loops_bits(
    walk, wick, raw_targets, direction, fill, position_size, entry_order, max_bars_in_trade
) -> None:
    """Without stops, funding or detail the kernel only marks a bar where no limit order
    works, the target does not change and no time stop comes due; a take profit too far to
    be reached keeps every bar on the full loop, bit for bit the same."""
    candles = market(walk, wick, 0.002)
    targets = raw_targets[: len(candles)]

    def run(take_profit: float | None) -> tuple[bytes, ...]:
        execution = ExecutionSettings(
            direction=direction,
            fill=fill,
            position_size=position_size,
            fee_rate=0.001,
            take_profit=take_profit,
            entry_order=entry_order,
            max_bars_in_trade=max_bars_in_trade,
        )
        result = simulate_targets(candles, targets, execution, "1")
        trades = result.trades
        columns = (trades.entry_price, trades.exit_price, trades.qty, trades.pnl, trades.fees)
        reasons = trades.exit_reason.tobytes()
        return (result.equity.tobytes(), reasons, *(c.tobytes() for c in columns))

    assert run(None) == run(1000.0)
