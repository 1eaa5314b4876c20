"""Provenance digests against hashlib over struct-packed candles and canonical JSON; what a
backtest in the pool reports for Monte Carlo and reruns."""

import dataclasses
import hashlib
import json
import struct
from typing import Any

from domain.research.monte_carlo import resample_trades
from domain.strategies import STRATEGIES
from domain.strategies.definitions import definition_of
from domain.strategies.registry import strategies_with_plugins
from services.engine.backtests.in_pool import simulate
from services.engine.backtests.parsed_request import parse_backtest
from services.engine.provenance import (
    candles_provenance,
    differences,
    equity_sha256,
    strategy_sha256,
)
from shared.backtest_spec import BacktestSpec
from tests.support.market import random_walk
from tests.support.paths import TEST_PLUGINS

T0 = 1_704_067_200_000
REQUEST: dict[str, Any] = {
    "category": "linear",
    "symbol": "BTCUSDT",
    "interval": "60",
    "start": T0,
    "end": T0 + 800 * 3_600_000,
    "strategy": {"name": "sma_cross", "params": {"fast": 5, "slow": 20}},
    "direction": "long_short",
}


def test_the_candles_digest_is_sha256_over_struct_packed_candles() -> None:
    candles = random_walk(T0, 300, "60", seed=2)
    digest = hashlib.sha256()
    for i in range(len(candles)):
        prices = (
            float(getattr(candles, f)[i])
            for f in ("open", "high", "low", "close", "volume", "turnover")
        )
        digest.update(struct.pack("<q6d", int(candles.open_time[i]), *prices))
    got = candles_provenance(candles)
    assert got == {
        "count": 300,
        "first": "2024-01-01T00:00:00Z",
        "last": "2024-01-13T11:00:00Z",
        "sha256": digest.hexdigest(),
    }


def test_a_builtins_digest_is_of_its_definition_as_canonical_json() -> None:
    spec = BacktestSpec.model_validate(REQUEST)
    definition = definition_of(STRATEGIES.entry("sma_cross")).as_json()
    canonical = json.dumps(definition, sort_keys=True, separators=(",", ":")).encode()
    assert strategy_sha256(spec.strategy) == hashlib.sha256(canonical).hexdigest()
    other = BacktestSpec.model_validate({**REQUEST, "strategy": {"name": "ema_cross"}})
    assert strategy_sha256(other.strategy) != strategy_sha256(spec.strategy)


def test_a_plugins_digest_is_its_files_sha256() -> None:
    plugin_file = TEST_PLUGINS / "honest_momentum.py"
    registry = strategies_with_plugins(str(plugin_file.parent))
    request = {**REQUEST, "strategy": {"name": "honest_momentum"}}
    spec = BacktestSpec.model_validate(request, context={"strategies": registry})
    expected = hashlib.sha256(plugin_file.read_bytes()).hexdigest()
    assert strategy_sha256(spec.strategy) == spec.strategy.sha256 == expected


def test_differences_name_the_parts_that_differ_in_order() -> None:
    base = {"candles": "a", "metrics": "b", "trades": "c", "equity": "d"}
    assert differences(base, dict(base)) == []
    assert differences(base, {**base, "equity": "x", "candles": "y"}) == ["candles", "equity"]


def test_a_backtest_in_the_pool_is_bit_identical_run_again_and_its_monte_carlo_by_seed() -> None:
    candles = random_walk(T0, 800, "60", seed=3)
    request = {**REQUEST, "monte_carlo": {"runs": 500, "seed": 3}}
    run = parse_backtest(request)[1]
    first, again = simulate(candles, run), simulate(candles, run)
    assert first.digests == again.digests and first.monte_carlo == again.monte_carlo
    # Each closed trade's return on equity (TRADE_COLUMNS' equity_return, after funding).
    closed = first.trades.equity_return[first.trades.exit_time >= 0]
    assert closed.size > 5
    assert first.monte_carlo == resample_trades(closed, 10_000.0, 500, 3).as_json()
    assert (
        simulate(candles, parse_backtest({**request, "monte_carlo": None})[1]).monte_carlo is None
    )

    close = candles.close.copy()
    close[400] *= 1.05
    changed = simulate(dataclasses.replace(candles, close=close), run)
    assert differences(first.digests, changed.digests)[0] == "candles"
    assert first.provenance["candles"]["count"] == 800


def test_the_equity_digest_is_sha256_over_the_bar_times_then_the_equity() -> None:
    """What a rerun compares of the equity (the pool no longer hashes it: a backtest's
    digests name the other parts)."""
    candles = random_walk(T0, 800, "60", seed=4)
    shifted = random_walk(T0 + 3_600_000, 800, "60", seed=4)  # other times, same prices
    runs = [(candles, 0, 5), (candles, 0, 7), (candles, 30, 5), (shifted, 30, 5), (candles, 0, 5)]
    for source, warmup, fast in runs:
        request = {**REQUEST, "strategy": {"name": "sma_cross", "params": {"fast": fast}}}
        out = simulate(source, parse_backtest(request)[1], warmup)
        assert set(out.digests) == {"candles", "metrics", "trades"}
        times = source.open_time[warmup:].astype("<i8").tobytes()
        expected = hashlib.sha256(times + out.equity.astype("<f8").tobytes()).hexdigest()
        assert equity_sha256(out.times, out.equity) == expected, (warmup, fast)
