"""A backtest request parsed once in the event loop: the pool receives the domain's types,
pickled, and never validates the request again; a plugin crosses by name and digest."""

import asyncio
import pickle
from typing import Any

import pytest

from domain.strategies import install_strategies
from domain.strategies.plugins import load_plugin, loaded_plugin
from domain.targets.plugin_targets import StrategyError, raw_plugin_targets
from services.engine.backtests.in_pool import BacktestOutput, simulate
from services.engine.backtests.parsed_request import ParsedBacktest, parse_backtest
from services.engine.simulation_pool import SimulationPool
from shared.backtest_spec import BacktestSpec
from shared.jobs import JobRejected
from tests.support.market import random_walk
from tests.support.paths import TEST_PLUGINS

T0 = 1_704_067_200_000
REQUEST: dict[str, Any] = {
    "category": "linear",
    "symbol": "BTCUSDT",
    "interval": "60",
    "start": T0 + 50 * 3_600_000,
    "end": T0 + 600 * 3_600_000,
    "strategy": {"name": "sma_cross", "params": {"fast": 5, "slow": 20}},
    "fee_rate": 0.01,  # a percentage typed as a fraction: a warning the record carries
    "stop_loss": {"atr": 2},
    "monte_carlo": {"runs": 200, "seed": 7},
    "direction": "long_short",
}
CANDLES = random_walk(T0, 600, "60", seed=5)


def test_the_record_holds_the_requests_config_and_facts_in_the_domains_types() -> None:
    spec, run = parse_backtest(REQUEST)
    assert run.config == spec.config()
    assert (run.symbol, run.interval, run.start_ms, run.end_ms) == (
        "BTCUSDT",
        "60",
        spec.start_ms,
        spec.end_ms,
    )
    assert run.warmup_asked == spec.warmup_bars_asked > 0
    assert run.monte_carlo is not None and (run.monte_carlo.runs, run.monte_carlo.seed) == (200, 7)
    assert len(run.warnings) == 1 and "fee_rate 0.01" in run.warnings[0]
    assert run.entry_order == "market" and run.portfolio is None
    assert pickle.loads(pickle.dumps(run)) == run


def test_the_pool_side_never_validates_the_request_again(monkeypatch: pytest.MonkeyPatch) -> None:
    _, run = parse_backtest(REQUEST)
    expected = simulate(CANDLES, run, 50)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the request was validated again on the pool side")

    monkeypatch.setattr(BacktestSpec, "model_validate", refuse)
    again = simulate(CANDLES, pickle.loads(pickle.dumps(run)), 50)
    assert again.digests == expected.digests and again.monte_carlo == expected.monte_carlo
    assert again.warnings[: len(run.warnings)] == list(run.warnings)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"fee_rate": -1}, "fee_rate"),
        ({"strategy": {"name": "no_such_strategy"}}, "strategy"),
        ({"symbols": ["BTCUSDT", "ETHUSDT"]}, "give `symbol` or `symbols`, not both"),
    ],
)
def test_a_bad_stored_request_is_rejected_once_naming_the_field(
    change: dict[str, Any], named: str
) -> None:
    with pytest.raises(JobRejected) as rejected:
        parse_backtest({**REQUEST, **change})
    assert str(rejected.value).startswith("invalid request") and named in str(rejected.value)


def test_a_plugin_is_pickled_as_its_name_and_digest_not_its_code() -> None:
    plugin = load_plugin(TEST_PLUGINS / "honest_momentum.py")
    assert pickle.loads(pickle.dumps(plugin)) is plugin
    # A process that loaded another version of the file: the plugin is unavailable, and a
    # job naming it fails with that reason instead of running other code.
    edited = loaded_plugin(plugin.name, str(plugin.path), "0" * 64)
    assert edited.targets is None and edited.error is not None
    with pytest.raises(StrategyError, match="its file changed"):
        raw_plugin_targets(edited, CANDLES, {"period": 5})


def test_a_pool_process_runs_a_parsed_plugin_request_as_this_process_does() -> None:
    install_strategies(str(TEST_PLUGINS))  # as the engine does (the fixture undoes it)
    _, run = parse_backtest({**REQUEST, "strategy": {"name": "honest_momentum"}})
    here = simulate(CANDLES, run, 50)
    there = asyncio.run(_in_a_pool_process(run))
    assert there.digests == here.digests and there.metrics == here.metrics
    assert there.provenance["strategy_sha256"] == run.strategy_sha256


async def _in_a_pool_process(run: ParsedBacktest) -> BacktestOutput:
    pool = SimulationPool(1, str(TEST_PLUGINS), timeout_seconds=600)
    try:
        await pool.start()
        return await pool.run(simulate, CANDLES, run, 50)
    finally:
        pool.shutdown()
