"""A pool process's warm-up leaves nothing for the first jobs to compile: after it, a
backtest, a grid chunk and a portfolio on other data (with the types a job's pickled inputs
have), and backtests and grid chunks of rules, add no signature to any compiled function of
the domain."""

import subprocess
import sys

from tests.support.paths import ROOT

# Run in a fresh interpreter: this process has compiled what other tests ran.
SCRIPT = """
import pickle, sys
import numba.core.registry
from services.engine.pool_warm_up import BACKTEST, warm_up
from services.engine.backtests.in_pool import simulate
from services.engine.backtests.parsed_request import parse_backtest
from services.engine.backtests.portfolio_in_pool import simulate_portfolio
from services.engine.optimization.in_pool import evaluate_sets
from services.engine.optimization.parsed_request import parse_optimization
from domain.portfolio_backtest import SymbolSeries
from domain.strategies import strategy_entry
from domain.strategies.definitions import definition_of
from tests.support.market import random_walk

def signatures():
    return {
        f"{name}.{attr}": len(value.signatures)
        for name, module in list(sys.modules.items()) if name.startswith("domain.")
        for attr, value in vars(module).items()
        if isinstance(value, numba.core.registry.CPUDispatcher)
    }

warm_up()
after_warm_up = signatures()
t0 = 1_704_067_200_000
candles = pickle.loads(pickle.dumps(random_walk(t0, 2_000, "1", seed=9)))  # as the pool gets them
backtest = {**BACKTEST, "start": t0 + 100 * 60_000, "end": t0 + 2_000 * 60_000}
for params in ({"fast": 5, "slow": 20}, {"fast": 10, "slow": 40}):
    one = {**backtest, "strategy": {"name": "sma_cross", "params": params}}
    simulate(candles, pickle.loads(pickle.dumps(parse_backtest(one)[1])), 100)
grid = parse_optimization({"kind": "grid", "backtest": backtest, "param_grid": {"fast": [5]}})[1]
evaluate_sets(candles, grid, [{"fast": 5, "slow": 20}, {"fast": 8, "slow": 30}], 0, 100)
rules = definition_of(strategy_entry("sma_cross")).as_json()
exits = {**rules, "long_exit": "crosses_below(close, sma(close, slow)) or close <= 1"}
for definition in (rules, exits):
    one = {**backtest, "strategy": {"definition": definition, "params": {"fast": 5, "slow": 20}}}
    simulate(candles, pickle.loads(pickle.dumps(parse_backtest(one)[1])), 100)
    rules_grid = {"kind": "grid", "backtest": one, "param_grid": {"fast": [5, 8]}}
    rule_sets = [{"fast": 5, "slow": 20}, {"fast": 8, "slow": 30}]
    evaluate_sets(candles, parse_optimization(rules_grid)[1], rule_sets, 0, 100)
portfolio = {k: v for k, v in backtest.items() if k not in ("symbol", "stop_loss")}
series = [SymbolSeries(s, candles, 100, None) for s in ("AAA", "BBB")]
simulate_portfolio(series, parse_backtest({**portfolio, "symbols": ["AAA", "BBB"]})[1])
after_jobs = signatures()
assert after_jobs, "no compiled functions found"
compiled = {k: v for k, v in after_jobs.items() if v != after_warm_up.get(k, 0)}
print(len(after_jobs), compiled)
"""


def test_after_the_warm_up_the_first_jobs_compile_nothing() -> None:
    ran = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=900
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    functions, compiled = ran.stdout.split(" ", 1)
    assert int(functions) > 20
    assert compiled.strip() == "{}", f"compiled by the first jobs, not the warm-up: {compiled}"
