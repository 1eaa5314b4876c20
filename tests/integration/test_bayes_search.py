"""Bayesian searches through the queue: API -> planner -> batches of chunks -> told -> API.

The reference is the contract's loop written out with Optuna in the test, each trial
evaluated by a full backtest (run_backtest, or run_portfolio for a portfolio) on the stored
candles.
"""

import dataclasses
import signal
from collections.abc import Callable
from typing import Any

import asyncpg
import optuna
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from devtools.waiting import poll_until
from domain.backtest import run_backtest
from domain.execution.config import BacktestConfig
from domain.market.candles import Candles
from domain.portfolio_backtest import PortfolioRules, run_portfolio
from services.engine.optimization.in_pool import bars_between
from services.engine.portfolio_loading import load_portfolio_series
from shared.amqp import Topology
from shared.backtest_spec import BacktestSpec
from shared.market_data import load_candles
from shared.messages import RunOptimizationChunk, StartOptimization
from shared.settings import Settings
from tests.support.broker import ready_messages
from tests.support.market import insert_candles, random_walk
from tests.support.optimization_requests import BACKTEST as GRID_BACKTEST
from tests.support.optimization_requests import T0
from tests.support.processes import service_process
from tests.support.services import running_engine, settled

pytestmark = pytest.mark.integration

Client = TestClient[web.Request, web.Application]
HOURS = 1500  # more than the grid tests' range: a search needs room for its trials
BACKTEST: dict[str, Any] = {**GRID_BACKTEST, "end": T0 + HOURS * 3_600_000}


def _search(trials: int, batch: int, sampler: str = "tpe", seed: int = 7) -> dict[str, Any]:
    return {
        "kind": "bayes",
        "backtest": BACKTEST,
        "objective": "sharpe",
        # slow = 10 with fast above it breaks sma_cross's rule: those asks are told failed.
        "param_space": {
            "fast": {"low": 2, "high": 30},
            "slow": [10, 40, 80],
            "trailing_stop": {"low": 0.01, "high": 0.2, "log": True},
        },
        "search": {"trials": trials, "batch": batch, "sampler": sampler, "seed": seed},
    }


async def _candles(pool: asyncpg.Pool) -> Candles:
    spec = BacktestSpec.model_validate(BACKTEST)
    async with pool.acquire() as conn:
        return await load_candles(conn, "linear", "BTCUSDT", "60", spec.start, spec.end)


def _backtest(values: dict[str, Any]) -> BacktestConfig:
    """A single backtest of the trial's values, built as a client would request it."""
    strategy = {"name": "sma_cross", "params": {"fast": values["fast"], "slow": values["slow"]}}
    request = {**BACKTEST, "strategy": strategy, "trailing_stop": values["trailing_stop"]}
    return BacktestSpec.model_validate(request).config()


Told = list[tuple[int, dict[str, Any], float | None]]


def _contract_loop(
    study: optuna.Study,
    trials: int,
    batch: int,
    suggest: Callable[[optuna.trial.Trial], dict[str, Any]],
    breaks: Callable[[dict[str, Any]], bool],
    objective: Callable[[dict[str, Any]], float | None],
) -> Told:
    """The contract's loop: (trial number, values, objective) of every evaluated trial."""
    evaluated: Told = []
    asks = 0
    while len(evaluated) < trials and asks < 10 * trials:
        asked: list[tuple[optuna.trial.Trial, dict[str, Any]]] = []
        while len(asked) < min(batch, trials - len(evaluated)) and asks < 10 * trials:
            trial = study.ask()
            asks += 1
            values = suggest(trial)
            if breaks(values):
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
            else:
                asked.append((trial, values))
        for trial, values in asked:
            value = objective(values)
            if value is None:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
            else:
                study.tell(trial, value)
            evaluated.append((trial.number, values, value))
    return evaluated


def _reference(candles: Candles, trials: int, batch: int, sampler: str, seed: int) -> Told:
    """The contract's loop over the one-symbol space, each trial a run_backtest's sharpe."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    samplers = {"tpe": optuna.samplers.TPESampler, "cmaes": optuna.samplers.CmaEsSampler}
    study = optuna.create_study(direction="maximize", sampler=samplers[sampler](seed=seed))

    def suggest(trial: optuna.trial.Trial) -> dict[str, Any]:
        return {
            "fast": trial.suggest_int("fast", 2, 30, step=1, log=False),
            "slow": trial.suggest_categorical("slow", [10, 40, 80]),
            "trailing_stop": trial.suggest_float("trailing_stop", 0.01, 0.2, log=True),
        }

    return _contract_loop(
        study,
        trials,
        batch,
        suggest,
        lambda values: bool(values["fast"] >= values["slow"]),
        lambda values: run_backtest(candles, _backtest(values)).metrics["sharpe"],
    )


def _asked(reference: Told) -> list[Any]:
    return [(number, values) for number, values, _ in reference]


async def _rows(api: Client, location: str) -> list[dict[str, Any]]:
    page = await (
        await api.get(f"{location}/results", params={"order_by": "trial", "limit": 1000})
    ).json()
    items: list[dict[str, Any]] = page["items"]
    assert page["total"] == len(items)
    return items


def _trials(rows: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    names = ("fast", "slow", "trailing_stop")
    return [(r["trial"], {k: r["params"][k] for k in names}) for r in rows]


async def test_a_search_asks_what_the_contracts_loop_asks_and_twice_the_same(
    api: Client, pool: asyncpg.Pool, settings: Settings
) -> None:
    await insert_candles(pool, "linear", "BTCUSDT", "60", random_walk(T0, HOURS, "60"))
    body = _search(trials=24, batch=5)
    async with running_engine(settings):
        first = (await api.post("/api/v1/optimizations", json=body)).headers["Location"]
        done = await settled(api, first, within=300)
        second = (await api.post("/api/v1/optimizations", json=body)).headers["Location"]
        again = await settled(api, second, within=300)
    assert done["status"] == again["status"] == "succeeded", (done["error"], again["error"])
    assert done["progress"] == {"done": 24, "total": 24}
    rows = await _rows(api, first)
    candles = await _candles(pool)
    assert _trials(rows) == _asked(_reference(candles, 24, 5, "tpe", 7))
    # Rule breaks leave gaps in the trial numbers; evaluated trials come in trial order.
    numbers = [r["trial"] for r in rows]
    assert numbers == sorted(numbers) and numbers[-1] >= 23

    for row in rows[::5]:
        expected = run_backtest(candles, _backtest(row["params"])).metrics
        assert row["metrics"] == pytest.approx(expected, rel=1e-12)
    top = max(rows, key=lambda r: (r["metrics"]["sharpe"] or -1e300, -r["trial"]))
    assert done["best"] == top
    assert done["robustness"]["trials"] == 24 and done["robustness"]["pbo"] is not None
    summary = done["search"]
    assert summary["trials"] == 24 and summary["asks"] == summary["rule_breaks"] + 24
    assert summary["importance"] is not None and set(summary["importance"]) == {
        "fast",
        "slow",
        "trailing_stop",
    }
    assert await _rows(api, second) == rows
    assert again["best"] == done["best"] and again["search"] == summary


async def test_a_search_with_walk_forward_searches_each_windows_train_bars(
    api: Client, pool: asyncpg.Pool, settings: Settings
) -> None:
    await insert_candles(pool, "linear", "BTCUSDT", "60", random_walk(T0, HOURS, "60"))
    body = {**_search(trials=10, batch=4), "walk_forward": {"train_bars": 600, "test_bars": 300}}
    async with running_engine(settings):
        location = (await api.post("/api/v1/optimizations", json=body)).headers["Location"]
        done = await settled(api, location, within=300)
    assert done["status"] == "succeeded", done["error"]
    windows = await (await api.get(f"{location}/results", params={"order_by": "window"})).json()
    assert [w["window"] for w in windows["items"]] == [0, 1, 2]
    assert done["progress"] == {"done": 3 * 11, "total": 3 * 11}
    candles = await _candles(pool)
    for window in windows["items"]:
        assert window["robustness"]["trials"] == 10
        k = window["window"]
        # Each window's search is its own study over its train bars alone.
        reference = _reference(bars_between(candles, k * 300, k * 300 + 600), 10, 4, "tpe", 7)
        number, values, _ = min(reference, key=lambda r: (r[2] is None, -(r[2] or 0.0), r[0]))
        chosen = {n: window["params"][n] for n in ("fast", "slow", "trailing_stop")}
        assert chosen == values, (k, number)
    assert done["best"]["window"] == 2


async def _status(pool: asyncpg.Pool, optimization_id: str) -> tuple[str, int]:
    row = await pool.fetchrow(
        "SELECT status, progress_done FROM optimizations WHERE id = $1::uuid", optimization_id
    )
    assert row is not None
    return row["status"], row["progress_done"]


async def test_workers_killed_mid_search_lose_no_trial_and_store_none_twice(
    api: Client, pool: asyncpg.Pool, settings: Settings
) -> None:
    await insert_candles(pool, "linear", "BTCUSDT", "60", random_walk(T0, HOURS, "60"))
    body = _search(trials=60, batch=3, sampler="cmaes", seed=5)
    location = (await api.post("/api/v1/optimizations", json=body)).headers["Location"]
    optimization_id = location.rsplit("/", 1)[1]
    # The first kill comes as soon as the planner has committed (the first batch's chunks
    # queued), then twice more mid-search.
    for at_least in (0, 12, 30):

        def reached(status: tuple[str, int], least: int = at_least) -> bool:
            return status[0] == "running" and status[1] >= least

        async with service_process("services.engine", settings) as engine:
            await poll_until(
                lambda: _status(pool, optimization_id),
                reached,
                within=180,
                every=0.01,
                what=f"the search at {at_least} trials",
            )
            engine.send_signal(signal.SIGKILL)
            await engine.wait()
    status, done_before = await _status(pool, optimization_id)
    assert status == "running" and done_before < 60

    async with running_engine(settings):
        done = await settled(api, location, within=300)
    assert done["status"] == "succeeded", done["error"]
    assert done["progress"] == {"done": 60, "total": 60}
    rows = await _rows(api, location)
    candles = await _candles(pool)
    assert _trials(rows) == _asked(_reference(candles, 60, 3, "cmaes", 5))
    stored = await pool.fetch(
        "SELECT number, position, state FROM optimization_trials ORDER BY number"
    )
    assert [r["number"] for r in stored] == list(range(len(stored)))
    positions = [r["position"] for r in stored if r["position"] is not None]
    assert positions == list(range(60))
    assert all(r["state"] != "running" for r in stored)
    completed = await pool.fetchval(
        "SELECT count(*) FROM outbox WHERE message_type = 'OptimizationCompleted'"
    )
    assert completed == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"search": {"trials": 9}}, "search.trials"),
        ({"search": {"trials": 20, "batch": 0}}, "search.batch"),
        ({"search": {"trials": 20, "sampler": "grid"}}, "search.sampler"),
        ({"param_space": {"fast": {"low": 20, "high": 5}}}, "param_space.fast.high"),
        (
            {"param_space": {"trailing_stop": {"low": 0, "high": 0.2, "log": True}}},
            "param_space.trailing_stop.low",
        ),
        ({"param_space": {"speed": {"low": 1, "high": 5}}}, "param_space.speed"),
        ({"param_space": {"fast": {"low": 50, "high": 90}, "slow": [20, 40]}}, "param_space"),
        ({"param_space": {"fast": {"low": 2.5, "high": 9}}}, "param_space.fast.low"),
        ({"search": None}, "search"),
        ({"param_grid": {"fast": [5]}}, "param_grid"),
    ],
)
async def test_bad_searches_answer_422_naming_the_field(
    api: Client, pool: asyncpg.Pool, change: dict[str, Any], field: str
) -> None:
    await insert_candles(pool, "linear", "BTCUSDT", "60", random_walk(T0, 300, "60"))
    body = {**_search(trials=20, batch=4), **change}
    if body["search"] is None:
        del body["search"]
    resp = await api.post("/api/v1/optimizations", json=body)
    assert resp.status == 422, await resp.text()
    error = (await resp.json())["error"]
    fields = [d.get("field") for d in error.get("details", [])]
    assert field in fields or field in str(error), error
    assert await pool.fetchval("SELECT count(*) FROM optimizations") == 0


async def test_a_space_that_mostly_breaks_the_rules_ends_early_and_says_so(
    api: Client, pool: asyncpg.Pool, settings: Settings
) -> None:
    await insert_candles(pool, "linear", "BTCUSDT", "60", random_walk(T0, 300, "60"))
    body = {
        **_search(trials=10, batch=4, sampler="random"),
        # fast < slow holds for about one sampled set in twenty.
        "param_space": {"fast": {"low": 2, "high": 200}, "slow": [5, 20]},
    }
    async with running_engine(settings):
        location = (await api.post("/api/v1/optimizations", json=body)).headers["Location"]
        done = await settled(api, location, within=300)
    assert done["status"] == "succeeded", done["error"]
    summary = done["search"]
    assert summary["asks"] == 100 and 0 < summary["trials"] < 10
    assert done["progress"] == {"done": summary["trials"], "total": summary["trials"]}
    assert len(done["warnings"]) == 1 and "ended early" in done["warnings"][0]
    assert f"{summary['trials']} of 10 trials evaluated" in done["warnings"][0]
    rows = await _rows(api, location)
    assert len(rows) == summary["trials"] == done["robustness"]["trials"]
    assert all(r["params"]["fast"] < r["params"]["slow"] for r in rows)


async def test_a_cancelled_search_asks_no_further_batch(
    api: Client, pool: asyncpg.Pool, settings: Settings
) -> None:
    await insert_candles(pool, "linear", "BTCUSDT", "60", random_walk(T0, HOURS, "60"))
    body = _search(trials=2000, batch=2, sampler="random")
    location = (await api.post("/api/v1/optimizations", json=body)).headers["Location"]
    optimization_id = location.rsplit("/", 1)[1]

    async def asked() -> int:
        return int(await pool.fetchval("SELECT count(*) FROM optimization_trials"))

    async with running_engine(settings):
        await poll_until(
            lambda: _status(pool, optimization_id),
            lambda s: s[1] >= 6,
            within=180,
            every=0.01,
            what="a few batches",
        )
        cancelled = await (await api.delete(location)).json()
        assert cancelled["status"] == "cancelled"
        at_cancel = await asked()
        chunks_queue = Topology(settings.amqp_prefix).queue_for(RunOptimizationChunk)
        await poll_until(
            lambda: ready_messages(settings.amqp_url, chunks_queue),
            lambda ready: ready == 0,
            within=60,
            what="the queued chunks delivered and dropped",
        )
    assert await asked() == at_cancel
    status, done = await _status(pool, optimization_id)
    assert status == "cancelled" and done < 2000


async def test_a_planner_killed_while_asking_the_first_batches_commits_nothing(
    api: Client, pool: asyncpg.Pool, settings: Settings
) -> None:
    # 40 walk-forward windows, each a search whose first batch is 200 asks: the planner asks
    # 8,000 sets in its one transaction, long enough to be killed in the middle of it.
    await insert_candles(pool, "linear", "BTCUSDT", "60", random_walk(T0, 900, "60"))
    body = {
        **_search(trials=200, batch=200),
        "backtest": {**BACKTEST, "end": T0 + 900 * 3_600_000},
        "walk_forward": {"train_bars": 100, "test_bars": 20},
        # Each window's robustness over 6 splits, not 12,870: asserted elsewhere, and at 200
        # trials a window it was a third of this test's time.
        "robustness_blocks": 4,
    }
    location = (await api.post("/api/v1/optimizations", json=body)).headers["Location"]
    optimization_id = location.rsplit("/", 1)[1]
    start_queue = Topology(settings.amqp_prefix).queue_for(StartOptimization)

    async def in_the_planners_hands() -> bool:
        published = await pool.fetchval(
            """SELECT count(*) FROM outbox WHERE message_type = 'StartOptimization'
               AND published_at IS NOT NULL"""
        )
        if not published or await ready_messages(settings.amqp_url, start_queue):
            return False
        return (await _status(pool, optimization_id))[0] == "queued"

    async with service_process("services.engine", settings) as engine:
        await poll_until(in_the_planners_hands, within=180, every=0.01, what="the planner at work")
        engine.send_signal(signal.SIGKILL)
        await engine.wait()
    assert (await _status(pool, optimization_id))[0] == "queued"
    assert await pool.fetchval("SELECT count(*) FROM optimization_searches") == 0
    assert await pool.fetchval("SELECT count(*) FROM optimization_trials") == 0

    async with running_engine(settings):
        done = await settled(api, location, within=600)
        again_at = (await api.post("/api/v1/optimizations", json=body)).headers["Location"]
        again = await settled(api, again_at, within=600)
    assert done["status"] == again["status"] == "succeeded", (done["error"], again["error"])
    assert done["progress"] == {"done": 40 * 201, "total": 40 * 201}
    windows = await (await api.get(f"{location}/results", params={"order_by": "window"})).json()
    same = await (await api.get(f"{again_at}/results", params={"order_by": "window"})).json()
    assert [w["params"] for w in windows["items"]] == [w["params"] for w in same["items"]]
    trials = """SELECT search, number, position, params FROM optimization_trials
                WHERE optimization_id = $1::uuid ORDER BY search, number"""
    first = [dict(r) for r in await pool.fetch(trials, optimization_id)]
    second = [dict(r) for r in await pool.fetch(trials, again_at.rsplit("/", 1)[1])]
    assert sum(r["position"] is not None for r in first) == 40 * 200 and first == second


PORTFOLIO_SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
PORTFOLIO_HOURS = 800
PORTFOLIO: dict[str, Any] = {
    "category": "spot",
    "symbols": PORTFOLIO_SYMBOLS,
    "interval": "60",
    "start": T0,
    "end": T0 + (PORTFOLIO_HOURS - 1) * 3_600_000,
    "strategy": {"name": "sma_cross", "params": {"slow": 60}},
    "fee_rate": 0.001,
    "warmup_bars": 0,
    "portfolio": {"max_positions": 2, "rank": "roc(close, 24)"},
}


async def _portfolio_reference(pool: asyncpg.Pool, trials: int, batch: int, seed: int) -> Told:
    """The contract's loop over the portfolio: each trial one portfolio backtest
    (run_portfolio) with its `fast` and `max_positions`, told its total return."""
    spec = BacktestSpec.model_validate(PORTFOLIO)
    portfolio = spec.portfolio
    assert portfolio is not None
    async with pool.acquire() as conn:
        series = await load_portfolio_series(conn, spec, 0)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))

    def suggest(trial: optuna.trial.Trial) -> dict[str, Any]:
        return {
            "fast": trial.suggest_int("fast", 5, 40, step=1, log=False),
            "max_positions": trial.suggest_categorical("max_positions", [1, 2, 3]),
        }

    def total_return(values: dict[str, Any]) -> float | None:
        config = dataclasses.replace(spec.config(), params={"fast": values["fast"], "slow": 60})
        rules = PortfolioRules(values["max_positions"], portfolio.rank, None)
        return run_portfolio(series, config, rules).metrics["total_return"]

    return _contract_loop(study, trials, batch, suggest, lambda values: False, total_return)


async def test_a_search_over_a_portfolio_asks_what_the_contracts_loop_asks(
    api: Client, pool: asyncpg.Pool, settings: Settings
) -> None:
    for i, symbol in enumerate(PORTFOLIO_SYMBOLS):
        walk = random_walk(T0, PORTFOLIO_HOURS, "60", seed=21 + i)
        await insert_candles(pool, "spot", symbol, "60", walk)
    body = {
        "kind": "bayes",
        "backtest": PORTFOLIO,
        "objective": "total_return",
        "param_space": {"fast": {"low": 5, "high": 40}, "max_positions": [1, 2, 3]},
        "search": {"trials": 12, "batch": 4, "seed": 3},
    }
    async with running_engine(settings):
        resp = await api.post("/api/v1/optimizations", json=body)
        assert resp.status == 202, await resp.text()
        location = resp.headers["Location"]
        done = await settled(api, location, within=300)
    assert done["status"] == "succeeded", done["error"]
    assert done["progress"] == {"done": 12, "total": 12}
    rows = await _rows(api, location)
    reference = await _portfolio_reference(pool, 12, 4, 3)
    names = ("fast", "max_positions")
    assert [(r["trial"], {k: r["params"][k] for k in names}) for r in rows] == _asked(reference)
    for row, (_, _, value) in zip(rows, reference, strict=True):
        assert row["params"]["slow"] == 60
        assert row["metrics"]["total_return"] == pytest.approx(value, rel=1e-12, abs=1e-12)
    top = max(rows, key=lambda r: (r["metrics"]["total_return"], -r["trial"]))
    assert done["best"] == top
    assert done["robustness"]["trials"] == 12 and done["search"]["trials"] == 12
    assert set(done["provenance"]["symbols"]) == set(PORTFOLIO_SYMBOLS)
