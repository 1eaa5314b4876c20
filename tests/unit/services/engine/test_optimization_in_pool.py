"""What a chunk does in a pool process: candles held per range, test windows warmed on their
warm-up only."""

import dataclasses
import pickle
from typing import Any

import numpy as np
import pytest
from pydantic import TypeAdapter

from domain.backtest import run_backtest
from domain.market.candles import Candles
from services.engine.optimization import in_pool
from services.engine.optimization.in_pool import (
    CandlesMissing,
    HeldCandles,
    bars_between,
    run_grid_chunk,
    run_test_chunk,
)
from services.engine.optimization.parsed_request import parse_optimization
from shared.backtest_spec import BacktestSpec
from shared.optimization_spec import OptimizationSpec
from tests.support.market import random_walk

T0 = 1_704_067_200_000
REQUEST: dict[str, Any] = {
    "kind": "walk_forward",
    "backtest": {
        "category": "linear",
        "symbol": "BTCUSDT",
        "interval": "60",
        "start": T0,
        "end": T0 + 3000 * 3_600_000,
        "strategy": {"name": "sma_cross"},
        "direction": "long_short",
    },
    "param_grid": {"fast": [5], "slow": [20]},
    "walk_forward": {"train_bars": 300, "test_bars": 150},
}
PARSED = parse_optimization(REQUEST)[1]  # as the chunk consumer parses it


def _key(name: str) -> tuple[str, str, str, int, int, int, int]:
    return ("linear", name, "60", 0, 1, 2, 0)


def test_a_process_keeps_the_candles_of_the_ranges_it_served_last() -> None:
    candles = random_walk(T0, 500, "60")
    with pytest.raises(CandlesMissing):
        HeldCandles(_key("AAA")).get()
    assert HeldCandles(_key("AAA"), candles).get() is candles
    assert HeldCandles(_key("AAA")).get() is candles
    HeldCandles(_key("BBB"), candles).get()
    HeldCandles(_key("AAA")).get()  # the most recently used stays
    HeldCandles(_key("CCC"), candles).get()
    assert HeldCandles(_key("AAA")).get() is candles
    with pytest.raises(CandlesMissing):
        HeldCandles(_key("BBB")).get()


def test_a_grid_chunk_from_held_candles_equals_single_backtests() -> None:
    candles = random_walk(T0, 800, "60", seed=2)
    HeldCandles(_key("GRID"), candles).get()
    sets = [{"fast": 5, "slow": 20}, {"fast": 10, "slow": 40}]
    results, _ = run_grid_chunk(HeldCandles(_key("GRID")), 0, PARSED, sets, 3)
    config = BacktestSpec.model_validate(REQUEST["backtest"]).config()
    for offset, result in enumerate(results):
        assert result.index == 3 + offset
        expected = run_backtest(candles, dataclasses.replace(config, params=sets[offset]))
        assert result.metrics == pytest.approx(expected.metrics, rel=1e-12)


def test_a_range_s_chunks_share_their_indicators_and_equal_the_whole_grid() -> None:
    candles = random_walk(T0, 800, "60", seed=4)
    HeldCandles(_key("SHARED"), candles).get()
    sets = [{"fast": f, "slow": s} for f in (3, 5, 8) for s in (20, 30, 40)]
    whole, _ = run_grid_chunk(HeldCandles(_key("SHARED"), candles), 0, PARSED, sets, 0)
    cache = in_pool._kept_targets[_key("SHARED"), 0, "60"][1].indicator_cache
    assert cache is not None
    kept = cache.nbytes()
    assert kept == 6 * candles.close.nbytes  # one SMA per window, computed once
    chunked = [
        result
        for first in range(0, len(sets), 4)
        for result in run_grid_chunk(
            HeldCandles(_key("SHARED")), 0, PARSED, sets[first : first + 4], first
        )[0]
    ]
    assert cache.nbytes() == kept  # the later chunks computed no window again
    assert [(r.index, r.metrics) for r in chunked] == [(r.index, r.metrics) for r in whole]
    # Past the budget, nothing is kept for the next chunk.
    in_pool.TARGETS_KEPT_BYTES, budget = kept - 1, in_pool.TARGETS_KEPT_BYTES
    try:
        run_grid_chunk(HeldCandles(_key("SHARED")), 0, PARSED, sets[:1], 0)
        assert not in_pool._kept_targets
    finally:
        in_pool.TARGETS_KEPT_BYTES = budget


def test_a_chunk_runs_the_parsed_request_without_validating_anything_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 19: the chunk consumer parses the request once; the pool gets it pickled, and
    each set's gridded stops ({"atr": k}, a fraction, null) become the domain's without
    pydantic, as a backtest asking for them would run."""
    candles = random_walk(T0, 800, "60", seed=6)
    stops: list[Any] = [{"atr": 2.0}, 0.03, None]
    sets = [{"fast": 5, "slow": 20, "stop_loss": stop, "position_size": 0.5} for stop in stops]
    strategy = {"name": "sma_cross", "params": {"fast": 5, "slow": 20}}
    backtests = [
        {**REQUEST["backtest"], "strategy": strategy, "stop_loss": stop, "position_size": 0.5}
        for stop in stops
    ]
    expected = [
        run_backtest(candles, BacktestSpec.model_validate(backtest).config()).metrics
        for backtest in backtests
    ]
    parsed = pickle.loads(pickle.dumps(PARSED))

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("validated again on the pool side")

    for model in (BacktestSpec, OptimizationSpec):
        monkeypatch.setattr(model, "model_validate", refuse)
    monkeypatch.setattr(TypeAdapter, "validate_python", refuse)
    results, _ = run_grid_chunk(HeldCandles(_key("PARSED"), candles), 0, parsed, sets, 0)
    assert [r.metrics for r in results] == [pytest.approx(m, rel=1e-12) for m in expected]
    assert results[0].metrics != results[1].metrics != results[2].metrics


def test_a_test_window_reads_only_its_warm_up_before_it() -> None:
    candles = random_walk(T0, 3000, "60", seed=4)
    # Bars far before the window are poisoned: a run from bar 0 would carry the NaN in its
    # SMAs' running sums for ever and never trade.
    close = candles.close.copy()
    close[:100] = np.nan
    poisoned = dataclasses.replace(candles, close=close)
    test_from, test_to = 2500, 2650
    params = {"fast": 5, "slow": 20}
    metrics, run = run_test_chunk(
        HeldCandles(_key("TEST"), poisoned), (test_from, test_to), PARSED, params
    )
    warmup = 3 * 20
    config = BacktestSpec.model_validate(REQUEST["backtest"]).config()
    expected = run_backtest(
        bars_between(candles, test_from - warmup, test_to),
        dataclasses.replace(config, params=params),
        trade_from=warmup,
    )
    assert (expected.metrics["num_trades"] or 0) > 0
    assert metrics == pytest.approx(expected.metrics, rel=1e-12)
    assert run.times.tolist() == candles.open_time[test_from:test_to].tolist()


def test_a_first_window_warms_up_on_what_there_is() -> None:
    candles: Candles = random_walk(T0, 400, "60", seed=6)
    params = {"fast": 5, "slow": 200}  # asks 600 bars of warm-up; 300 are there
    metrics, _ = run_test_chunk(HeldCandles(_key("FIRST"), candles), (300, 400), PARSED, params)
    config = BacktestSpec.model_validate(REQUEST["backtest"]).config()
    expected = run_backtest(candles, dataclasses.replace(config, params=params), trade_from=300)
    assert metrics == pytest.approx(expected.metrics, rel=1e-12)


def test_each_set_warms_up_on_its_own_share_of_the_bars_before_the_range() -> None:
    candles = random_walk(T0, 1500, "60", seed=8)
    request = {**REQUEST, "backtest": {**REQUEST["backtest"], "strategy": {"name": "ema_cross"}}}
    sets = [{"fast": 5, "slow": 20}, {"fast": 5, "slow": 200}, {"fast": 12, "slow": 30}]
    loaded = 500  # the 600 bars that slow 200 asks for are not all there
    parsed = parse_optimization(request)[1]
    results, _ = run_grid_chunk(HeldCandles(_key("WARM"), candles), loaded, parsed, sets, 0)
    config = BacktestSpec.model_validate(request["backtest"]).config()
    assert [r.index for r in results] == [0, 1, 2]
    for params, result in zip(sets, results, strict=True):
        warmup = min(3 * params["slow"], loaded)
        expected = run_backtest(
            bars_between(candles, loaded - warmup, len(candles)),
            dataclasses.replace(config, params=params),
            trade_from=warmup,
        )
        assert result.metrics == pytest.approx(expected.metrics, rel=1e-12), params
