"""Properties of the perpetual rules over generated markets (hypothesis)."""

import dataclasses
from collections.abc import Sequence

import numpy as np
from hypothesis import assume, example, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from domain.backtest import simulate_targets
from domain.execution.settings import EXIT_REASONS, ExecutionSettings, LimitEntry
from domain.market.candles import Candles
from domain.market.market_events import MarketEvents
from domain.market.perp_market import PerpMarket, perp_market
from tests.support.generated_markets import SETTINGS, executions, market, moves

volatile_moves = arrays(np.float64, st.integers(30, 120), elements=st.floats(-0.06, 0.06))
targets_of = st.integers(0, 2**32 - 1).map(lambda seed: np.random.default_rng(seed))


def random_targets(rng: np.random.Generator, n: int, direction: str) -> np.ndarray:
    choices = {"long_only": [0, 1], "short_only": [0, -1], "long_short": [-1, 0, 1]}[direction]
    # Targets held for a few bars at a time, as strategies do.
    runs = rng.choice(choices, size=n // 4 + 1)
    return np.repeat(runs, 4)[:n].astype(np.int8)


def marked(candles: Candles, basis: float, rates: Sequence[float]) -> PerpMarket:
    """The mark a basis off the candles; one funding every 3 bars at the given rates."""
    scale = 1 + basis
    mark = Candles(
        candles.open_time,
        candles.open * scale,
        candles.high * scale,
        candles.low * scale,
        candles.close * scale,
        candles.volume,
        candles.turnover,
    )
    times = candles.open_time[::3] + 1
    return perp_market(candles, "1", mark, times, np.resize(np.asarray(rates), times.size))


@SETTINGS
@given(close_moves=moves, execution=executions, rng=targets_of)
def test_a_linear_perpetual_at_leverage_one_without_funding_is_spot(
    close_moves: np.ndarray, execution: ExecutionSettings, rng: np.random.Generator
) -> None:
    candles = market(close_moves, 0.003, 0.001)
    targets = random_targets(rng, len(candles), execution.direction)
    spot = simulate_targets(candles, targets, execution, "1")
    perp = dataclasses.replace(execution, contract="linear", funding=False)
    linear = simulate_targets(candles, targets, perp, "1", market=marked(candles, 0.01, [1e-3]))
    assert linear.equity.tobytes() == spot.equity.tobytes()
    assert linear.trades.pnl.tobytes() == spot.trades.pnl.tobytes()
    assert linear.metrics == spot.metrics


@SETTINGS
@given(close_moves=moves, execution=executions, rng=targets_of, leverage=st.floats(1, 50))
def test_funding_at_rate_zero_changes_nothing(
    close_moves: np.ndarray, execution: ExecutionSettings, rng: np.random.Generator, leverage: float
) -> None:
    candles = market(close_moves, 0.003, 0.001)
    targets = random_targets(rng, len(candles), execution.direction)
    perp = dataclasses.replace(execution, contract="linear", leverage=leverage, funding=True)
    zero = simulate_targets(candles, targets, perp, "1", market=marked(candles, 0.002, [0.0]))
    off = dataclasses.replace(perp, funding=False)
    without = simulate_targets(candles, targets, off, "1", market=marked(candles, 0.002, [0.0]))
    assert zero.equity.tobytes() == without.equity.tobytes()
    assert zero.metrics["funding_paid"] == 0.0


@SETTINGS
@given(
    close_moves=volatile_moves,
    rng=targets_of,
    direction=st.sampled_from(["long_only", "short_only", "long_short"]),
    contract=st.sampled_from(["linear", "inverse"]),
    low=st.floats(1, 20),
    factor=st.floats(1, 5),
    mmr=st.sampled_from([0.0, 0.005, 0.02]),
)
def test_higher_leverage_never_lowers_the_liquidation_count(
    close_moves: np.ndarray,
    rng: np.random.Generator,
    direction: str,
    contract: str,
    low: float,
    factor: float,
    mmr: float,
) -> None:
    candles = market(close_moves, 0.01, 0.005)
    targets = random_targets(rng, len(candles), direction)
    perp = marked(candles, 0.003, [1e-4, -3e-4])
    # Part of the equity stays out of the position, so no liquidation leaves it at zero.
    execution = ExecutionSettings(
        direction=direction,  # type: ignore[arg-type]
        contract=contract,  # type: ignore[arg-type]
        position_size=0.8,
        maintenance_margin_rate=mmr,
        funding=True,
    )
    counts = [
        simulate_targets(
            candles, targets, dataclasses.replace(execution, leverage=lev), "1", market=perp
        ).metrics["liquidations"]
        for lev in (low, min(low * factor, 100.0))
    ]
    assert counts[0] <= counts[1]  # type: ignore[operator]


# What float64 sums can promise: each trade's pnl and the cash it moved differ by a few
# roundings of amounts up to the position's notional (equity x leverage), per trade.
_ROUNDINGS_PER_TRADE = 64 * float(np.finfo(np.float64).eps)


@SETTINGS
@given(
    close_moves=volatile_moves,
    rng=targets_of,
    execution=executions,
    contract=st.sampled_from(["linear", "inverse"]),
    leverage=st.floats(1, 25),
)
# Found by a random run: a steady crash wipes the account out, and the capital plus the pnls
# is 7.5e-9, not 0 (a bound of 1e-9 of the final equity failed it).
@example(
    close_moves=np.full(64, -0.049321015402174026),
    rng=np.random.default_rng(133619),
    execution=ExecutionSettings(fee_rate=0.001, direction="long_short", fill="close"),
    contract="inverse",
    leverage=17.13278760336946,
)
def test_final_equity_is_the_capital_plus_every_trades_pnl(
    close_moves: np.ndarray,
    rng: np.random.Generator,
    execution: ExecutionSettings,
    contract: str,
    leverage: float,
) -> None:
    """Fees, funding and liquidations all land in some trade's pnl, and nowhere else."""
    candles = market(close_moves, 0.01, 0.003)
    targets = random_targets(rng, len(candles), execution.direction)
    perp = dataclasses.replace(
        execution,
        contract=contract,  # type: ignore[arg-type]
        leverage=leverage,
        funding=True,
    )
    result = simulate_targets(
        candles, targets, perp, "1", market=marked(candles, -0.004, [2e-3, -1e-3, 5e-4])
    )
    total = float(result.trades.pnl.sum())
    final = result.metrics["final_equity"]
    assert final is not None
    notional = float(np.max(np.abs(result.equity))) * perp.leverage
    bound = _ROUNDINGS_PER_TRADE * notional * (len(result.trades.pnl) + 1)
    assert abs(final - (perp.initial_capital + total)) <= bound
    assert result.metrics["funding_paid"] == float(result.trades.funding.sum())


def _indexing_nothing(perp: PerpMarket) -> PerpMarket:
    """The market with an index that rules out nothing: every bar a funding bar, no mark
    reach known."""
    everything = MarketEvents(np.arange(len(perp), dtype=np.int64), np.empty(0), np.empty(0))
    return dataclasses.replace(perp, indexed=everything)


@SETTINGS
@given(
    seed=st.integers(0, 2**32 - 1),
    bars=st.integers(1, 400),
    cut=st.integers(0, 130),
    direction=st.sampled_from(["long_only", "short_only", "long_short"]),
    contract=st.sampled_from(["linear", "inverse"]),
    leverage=st.sampled_from([1.0, 2.0, 10.0, 40.0, 100.0]),
    funding=st.booleans(),
    fill=st.sampled_from(["next_open", "close"]),
    max_bars_in_trade=st.sampled_from([None, 7]),
    entry_order=st.sampled_from([None, LimitEntry(0.002, 2)]),
)
def test_held_bars_skipped_by_the_market_index_are_those_the_full_check_finds_quiet(
    seed: int,
    bars: int,
    cut: int,
    direction: str,
    contract: str,
    leverage: float,
    funding: bool,
    fill: str,
    max_bars_in_trade: int | None,
    entry_order: LimitEntry | None,
) -> None:
    rng = np.random.default_rng(seed)
    candles = market(rng.normal(0.0, rng.choice([0.002, 0.01, 0.03]), bars), 0.004, 0.002)
    # A mark off the candles, its range wider at some bars (it alone liquidates there), a few
    # marks missing.
    wider = 1.0 + rng.choice([0.0, 0.02, 0.1], bars, p=[0.9, 0.08, 0.02])
    scale = 1.0 + rng.normal(0.0, 0.001, bars)
    mark_low = candles.low * scale / wider
    mark_low[rng.random(bars) < 0.02] = np.nan
    mark = Candles(
        candles.open_time,
        candles.open * scale,
        candles.high * scale * wider,
        mark_low,
        candles.close * scale,
        candles.volume,
        candles.turnover,
    )
    # Fundings at some bars' open or inside them, some at rate 0.
    times = np.sort(rng.choice(candles.open_time, bars // 9 + 1)) + rng.choice([0, 30_000])
    rates = rng.choice([0.0, 1e-4, -3e-4, 2e-3], times.size)
    whole = perp_market(candles, "1", mark, times, rates)
    # A cut as an optimization's chunk takes: its blocks start inside one.
    start = min(cut, bars - 1)
    perp = whole.between(start, bars)
    traded = Candles(*(getattr(candles, f.name)[start:] for f in dataclasses.fields(Candles)))
    targets = random_targets(rng, len(traded), direction)
    execution = ExecutionSettings(
        direction=direction,  # type: ignore[arg-type]
        contract=contract,  # type: ignore[arg-type]
        leverage=leverage,
        funding=funding,
        fill=fill,  # type: ignore[arg-type]
        position_size=0.7,
        max_bars_in_trade=max_bars_in_trade,
        entry_order=entry_order,
    )
    trade_from = int(rng.integers(0, len(traded)))
    fast = simulate_targets(traded, targets, execution, "1", trade_from, market=perp)
    # A stop loss past the liquidation is never set, but with it every held bar goes through
    # the full stop check, and the funding columns are read at every bar.
    checked = dataclasses.replace(execution, stop_loss=0.99)
    full = simulate_targets(
        traded, targets, checked, "1", trade_from, market=_indexing_nothing(perp)
    )
    # Without a liquidation before it (a 1x linear one, a 1x inverse short), it may fill.
    assume(not np.any(full.trades.exit_reason == EXIT_REASONS.index("stop_loss")))
    assert fast.equity.tobytes() == full.equity.tobytes()
    for column in dataclasses.fields(fast.trades):
        name = column.name
        assert getattr(fast.trades, name).tobytes() == getattr(full.trades, name).tobytes()
