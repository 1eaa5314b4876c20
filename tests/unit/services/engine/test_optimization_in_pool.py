"""What a chunk does in a pool process: candles held per range, test windows warmed on their
warm-up only."""

import dataclasses
from typing import Any

import numpy as np
import pytest

from domain.backtest import run_backtest
from domain.market.candles import Candles
from services.engine.optimization.in_pool import (
    CandlesMissing,
    HeldCandles,
    bars_between,
    run_grid_chunk,
    run_test_chunk,
)
from shared.backtest_spec import BacktestSpec
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
    results, _ = run_grid_chunk(HeldCandles(_key("GRID")), 0, REQUEST, sets, 3)
    config = BacktestSpec.model_validate(REQUEST["backtest"]).config()
    for offset, result in enumerate(results):
        assert result.index == 3 + offset
        expected = run_backtest(candles, dataclasses.replace(config, params=sets[offset]))
        assert result.metrics == pytest.approx(expected.metrics, rel=1e-12)


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
        HeldCandles(_key("TEST"), poisoned), (test_from, test_to), REQUEST, params
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
    metrics, _ = run_test_chunk(HeldCandles(_key("FIRST"), candles), (300, 400), REQUEST, params)
    config = BacktestSpec.model_validate(REQUEST["backtest"]).config()
    expected = run_backtest(candles, dataclasses.replace(config, params=params), trade_from=300)
    assert metrics == pytest.approx(expected.metrics, rel=1e-12)


def test_each_set_warms_up_on_its_own_share_of_the_bars_before_the_range() -> None:
    candles = random_walk(T0, 1500, "60", seed=8)
    request = {**REQUEST, "backtest": {**REQUEST["backtest"], "strategy": {"name": "ema_cross"}}}
    sets = [{"fast": 5, "slow": 20}, {"fast": 5, "slow": 200}, {"fast": 12, "slow": 30}]
    loaded = 500  # the 600 bars that slow 200 asks for are not all there
    results, _ = run_grid_chunk(HeldCandles(_key("WARM"), candles), loaded, request, sets, 0)
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
