"""A Bayesian search asked batch by batch from stored trials equals the contract's one study.

The reference is the contract's text written out as one Optuna loop in one process; the
search under test rebuilds its study from plain stored data (JSON round-tripped, as the
database keeps it) before every batch, as the engine's workers do.
"""

import json
import math
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import optuna
import pytest
from optuna.samplers._tpe import sampler as tpe_sampler

from services.engine.optimization import tpe_batch
from services.engine.optimization.bayes_study import (
    SearchStudy,
    ask_batch,
    importances,
    new_sampler,
    study_to_ask,
)
from shared.param_space import BayesSearch, Dimension
from shared.repos.bayes_trials import StoredTrial

DIMENSIONS = [
    Dimension("fast", "int", 2, 50),
    Dimension("slow", "categorical", choices=(20, 40, 60)),
    Dimension("k", "float", 0.5, 4.0, 0.1),
    Dimension("trailing_stop", "float", 0.01, 0.2, log=True),
]
SAMPLERS = {
    "tpe": optuna.samplers.TPESampler,
    "random": optuna.samplers.RandomSampler,
    "cmaes": optuna.samplers.CmaEsSampler,
}


def _breaks(params: Mapping[str, Any]) -> bool:
    return bool(params["fast"] >= params["slow"])


def _value(params: Mapping[str, Any]) -> float | None:
    # Undefined (told failed) for some sets, as a metric with no trades is null.
    if params["fast"] % 7 == 0:
        return None
    return float(
        -((params["fast"] - 11) ** 2)
        - 3 * (params["k"] - 2) ** 2
        + math.log(params["trailing_stop"])
    )


def _tell(study: optuna.Study, trial: optuna.trial.Trial, value: float | None) -> None:
    """As the contract tells an evaluated trial: its value, or failed where it is null."""
    if value is None:
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
    else:
        study.tell(trial, value)


def _reference(sampler: str, seed: int, trials: int, batch: int) -> list[tuple[int, Any, Any]]:
    """The contract's loop: (trial number, params, told value or 'fail') of every trial."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=SAMPLERS[sampler](seed=seed))
    told: list[tuple[int, Any, Any]] = []
    evaluated, asks = 0, 0
    while evaluated < trials and asks < 10 * trials:
        batch_trials: list[tuple[optuna.trial.Trial, dict[str, Any]]] = []
        while len(batch_trials) < min(batch, trials - evaluated) and asks < 10 * trials:
            trial = study.ask()
            asks += 1
            params = {
                "fast": trial.suggest_int("fast", 2, 50, step=1, log=False),
                "slow": trial.suggest_categorical("slow", [20, 40, 60]),
                "k": trial.suggest_float("k", 0.5, 4.0, step=0.1, log=False),
                "trailing_stop": trial.suggest_float("trailing_stop", 0.01, 0.2, log=True),
            }
            if _breaks(params):
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                told.append((trial.number, params, "fail"))
            else:
                batch_trials.append((trial, params))
        for trial, params in batch_trials:
            value = _value(params)
            _tell(study, trial, value)
            told.append((trial.number, params, "fail" if value is None else value))
        evaluated += len(batch_trials)
    return sorted(told, key=lambda t: t[0])


def _stored(trial: StoredTrial) -> StoredTrial:
    """The trial as it comes back from the database's JSON."""
    return StoredTrial(
        trial.number,
        json.loads(json.dumps(trial.params)),
        json.loads(json.dumps(trial.system_attrs)),
        trial.state,
        trial.value,
    )


def _stepwise(sampler: str, seed: int, trials: int, batch: int) -> list[tuple[int, Any, Any]]:
    search = BayesSearch(trials=trials, batch=batch, sampler=sampler, seed=seed)
    state = new_sampler(search)
    history: list[StoredTrial] = []
    evaluated, asks = 0, 0
    while evaluated < trials and asks < 10 * trials:
        wanted = min(batch, trials - evaluated)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            asked = ask_batch(
                "sharpe", DIMENSIONS, state, history, wanted, 10 * trials - asks, _breaks
            )
        state, asks = asked.sampler, asks + asked.asks
        for trial in asked.trials:
            if trial.state == "running":
                value = _value(trial.params)
                trial = StoredTrial(
                    trial.number,
                    trial.params,
                    trial.system_attrs,
                    "fail" if value is None else "complete",
                    value,
                )
                evaluated += 1
            history.append(_stored(trial))
    return [(t.number, t.params, t.value if t.state == "complete" else "fail") for t in history]


def _told(
    trial: StoredTrial, value_of: Callable[[Mapping[str, Any]], float | None] = _value
) -> StoredTrial:
    """An asked trial once evaluated: complete with its value, or failed."""
    if trial.state != "running":
        return trial
    value = value_of(trial.params)
    if value is None:
        return StoredTrial(trial.number, trial.params, trial.system_attrs, "fail")
    return StoredTrial(trial.number, trial.params, trial.system_attrs, "complete", value)


def _held_by_workers(
    sampler: str, seed: int, trials: int, batch: int, asker: list[int]
) -> list[tuple[int, Any, Any]]:
    """The search as the engine's workers ask it: batch k asked by worker asker[k] (cycled),
    each keeping the study it last asked with and catching it up from the stored trials."""
    search = BayesSearch(trials=trials, batch=batch, sampler=sampler, seed=seed)
    stored_sampler, stored_batch = new_sampler(search), 0
    history: list[StoredTrial] = []
    held: dict[int, tuple[int, SearchStudy]] = {}
    evaluated, asks = 0, 0
    while evaluated < trials and asks < 10 * trials:
        worker = asker[stored_batch % len(asker)]
        study, sampler_since = study_to_ask(
            held.pop(worker, None), stored_batch, stored_sampler, "sharpe", DIMENSIONS
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            study.catch_up([t for t in history if t.number >= study.settled_before], sampler_since)
            asked = study.ask(min(batch, trials - evaluated), 10 * trials - asks, _breaks)
        stored_sampler, stored_batch = asked.sampler, stored_batch + 1
        held[worker] = (stored_batch, study)
        asks += asked.asks
        evaluated += len(asked.to_evaluate)
        history.extend(_stored(_told(t)) for t in asked.trials)
    return [(t.number, t.params, t.value if t.state == "complete" else "fail") for t in history]


@pytest.mark.parametrize("sampler", ["tpe", "random", "cmaes"])
@pytest.mark.parametrize("asker", [[0], [0, 1], [0, 0, 1, 2, 1, 1, 0]])
def test_studies_held_by_workers_and_caught_up_ask_what_one_study_asks(
    sampler: str, asker: list[int]
) -> None:
    assert _held_by_workers(sampler, 3, 40, 6, asker) == _reference(sampler, 3, 40, 6)


def test_a_study_is_not_caught_up_on_trials_still_running_or_out_of_order() -> None:
    study = SearchStudy.of_stored("sharpe", DIMENSIONS, new_sampler(BayesSearch(trials=10)))
    asked = study.ask(3, 30, lambda params: False)
    assert study.settled_before == 0
    with pytest.raises(ValueError, match="still running"):
        study.catch_up(asked.trials)
    with pytest.raises(ValueError, match="no stored outcome"):
        study.catch_up([_told(t) for t in asked.trials[:2]])
    later = StoredTrial(7, asked.trials[0].params, {}, "fail")
    with pytest.raises(ValueError, match="out of order"):
        SearchStudy.of_stored("sharpe", DIMENSIONS, asked.sampler).catch_up([later])


@pytest.mark.parametrize("sampler", ["tpe", "random", "cmaes"])
def test_a_search_rebuilt_for_every_batch_asks_what_one_study_asks(sampler: str) -> None:
    expected = _reference(sampler, seed=3, trials=40, batch=6)
    got = _stepwise(sampler, seed=3, trials=40, batch=6)
    assert got == expected
    assert (
        sum(1 for _, _, v in got if v != "fail")
        + sum(1 for _, p, v in got if v == "fail" and not _breaks(p))
        == 40
    )


def test_another_seed_asks_other_trials_and_the_same_seed_the_same() -> None:
    assert _stepwise("tpe", 1, 12, 4) == _stepwise("tpe", 1, 12, 4)
    assert _stepwise("tpe", 1, 12, 4) != _stepwise("tpe", 2, 12, 4)


def test_a_space_that_mostly_breaks_the_rule_spends_its_asks_and_stops() -> None:
    search = BayesSearch(trials=10, batch=10, sampler="random", seed=0)
    always_broken = ask_batch(
        "sharpe", DIMENSIONS, new_sampler(search), [], 10, 25, lambda params: True
    )
    assert always_broken.asks == 25 and len(always_broken.trials) == 25
    assert not always_broken.to_evaluate


def test_parameter_importance_names_the_parameter_that_matters() -> None:
    history = [
        StoredTrial(
            i,
            {"fast": 2 + i % 49, "slow": 60, "k": 2.0, "trailing_stop": 0.05},
            {},
            "complete",
            float((2 + i % 49 - 20) ** 2),
        )
        for i in range(60)
    ]
    found = importances("sharpe", DIMENSIONS, history)
    assert found is not None and max(found, key=found.__getitem__) == "fast"
    assert found == importances("sharpe", DIMENSIONS, history)
    assert importances("sharpe", DIMENSIONS, history[:1]) is None


STEPPED = [
    Dimension("fast", "int", 2, 60, 2),
    Dimension("slow", "int", 2, 60, 2),  # the same range: its masses are fast's
    Dimension("period", "int", 1, 300, log=True),
    Dimension("stop_loss", "float", 0.01, 0.05, 0.01),
]


def _stepped_value(params: Mapping[str, Any]) -> float | None:
    if params["period"] % 5 == 0:
        return None
    return round(float((params["slow"] - params["fast"] - 20) ** 2 / (1 + params["stop_loss"])), 2)


@pytest.mark.parametrize("cells_kept", [tpe_batch._CELLS_KEPT, 60])
def test_tpe_over_stepped_and_log_parameters_asks_what_one_study_asks(
    cells_kept: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TPE's batch-shared work (tpe_batch.py) past 100 trials, where the estimators' kernels
    stop narrowing, on stepped and log-scaled ints, two with the same range, minimized; and
    with its tables of masses starting over every few asks."""
    monkeypatch.setattr(tpe_batch, "_CELLS_KEPT", cells_kept)
    trials, batch, seed = 110, 16, 4
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed))
    expected: list[tuple[int, dict[str, Any], float | None]] = []
    while len(expected) < trials:
        asked = []
        for _ in range(min(batch, trials - len(expected))):
            trial = study.ask()
            params = {
                "fast": trial.suggest_int("fast", 2, 60, step=2, log=False),
                "slow": trial.suggest_int("slow", 2, 60, step=2, log=False),
                "period": trial.suggest_int("period", 1, 300, step=1, log=True),
                "stop_loss": trial.suggest_float("stop_loss", 0.01, 0.05, step=0.01, log=False),
            }
            asked.append((trial, params))
        for trial, params in asked:
            _tell(study, trial, _stepped_value(params))
            expected.append((trial.number, params, _stepped_value(params)))

    search = BayesSearch(trials=trials, batch=batch, sampler="tpe", seed=seed)
    held = SearchStudy.of_stored("max_drawdown", STEPPED, new_sampler(search))
    got: list[tuple[int, dict[str, Any], float | None]] = []
    history: list[StoredTrial] = []
    while len(got) < trials:
        held.catch_up([t for t in history if t.number >= held.settled_before])
        for one in held.ask(min(batch, trials - len(got)), 10 * trials, lambda p: False).trials:
            told = _told(one, _stepped_value)
            history.append(_stored(told))
            got.append((one.number, one.params, told.value))
    assert got == expected


def test_a_batch_splits_its_trials_as_optuna_does_at_every_ask(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The finished trials split once per batch (tpe_batch._split_trials) give at every ask
    the lists Optuna's own split gives for the same trials, running ones included."""
    splits: list[tuple[list[int], list[int], list[int], list[int]]] = []
    running_at: list[int] = []
    batch_split = tpe_sampler._split_trials

    def compared(
        study: optuna.Study, trials: list[optuna.trial.FrozenTrial], n_below: int
    ) -> tuple[list[optuna.trial.FrozenTrial], list[optuna.trial.FrozenTrial]]:
        running_at.append(sum(t.state == optuna.trial.TrialState.RUNNING for t in trials))
        below, above = batch_split(study, trials, n_below)
        own_below, own_above = tpe_batch._optuna_split_trials(study, list(trials), n_below)
        splits.append(
            (
                [t.number for t in below],
                [t.number for t in own_below],
                [t.number for t in above],
                [t.number for t in own_above],
            )
        )
        return below, above

    monkeypatch.setattr(tpe_sampler, "_split_trials", compared)
    assert _held_by_workers("tpe", 5, 40, 8, [0]) == _reference("tpe", 5, 40, 8)
    assert len(splits) > 20 and max(running_at) >= 6
    for below, own_below, above, own_above in splits:
        assert below == own_below and above == own_above


@pytest.mark.parametrize("sampler", ["tpe", "cmaes"])
def test_the_importance_from_the_study_held_to_the_end_is_the_rebuilt_studys(sampler: str) -> None:
    """A worker that asked the last batch catches its study up on that batch's outcomes for
    the importance instead of building one from every stored trial: the same values."""
    search = BayesSearch(trials=40, batch=8, sampler=sampler, seed=2)
    held = SearchStudy.of_stored("sharpe", DIMENSIONS, new_sampler(search))
    history: list[StoredTrial] = []
    evaluated = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        while evaluated < 40:
            held.catch_up([t for t in history if t.number >= held.settled_before])
            asked = held.ask(min(8, 40 - evaluated), 400, _breaks)
            evaluated += len(asked.to_evaluate)
            history.extend(_stored(_told(t)) for t in asked.trials)
    since = [t for t in history if t.number >= held.settled_before]
    assert len(since) < len(history)
    rebuilt = importances("sharpe", DIMENSIONS, history)
    assert rebuilt is not None
    assert importances("sharpe", DIMENSIONS, since, held) == rebuilt
