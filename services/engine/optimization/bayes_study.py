"""Optuna's side of a Bayesian search: asking a batch of trials, from the stored state alone.

The contract's reference (docs/optimization.md, "Bayesian search") is one study in one
process: `create_study(direction, sampler=S(seed=seed))`, then per batch `batch` calls of
`study.ask()` (a sampled set that breaks the strategy's rule told failed at once and another
asked), the batch evaluated, and every trial told in trial order. Here that study is rebuilt
for each batch from what is stored: the sampler as it was after the last ask (pickled, as
Optuna's documentation says to save a sampler) and every trial asked so far, with its
parameters, what the sampler kept with it (`system_attrs`) and its outcome. A sampler's
`after_trial` keeps nothing, so the rebuilt study asks what the one long-lived study would
have asked, whichever worker rebuilds it and however often one was killed
(tests/unit/services/engine/test_bayes_study.py compares the two).

Plain data in and out, CPU only: callers run it off the event loop.
"""

import math
import pickle
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.importance import PedAnovaImportanceEvaluator, get_param_importances
from optuna.samplers import BaseSampler, CmaEsSampler, RandomSampler, TPESampler
from optuna.trial import Trial, TrialState, create_trial

from domain.optimization.ranking import lower_is_better
from shared.param_space import BayesSearch, Dimension, Sampler
from shared.repos.bayes_trials import StoredTrial

_SAMPLERS: dict[Sampler, Callable[..., BaseSampler]] = {
    "tpe": TPESampler,
    "random": RandomSampler,
    "cmaes": CmaEsSampler,
}
_STATES = {"complete": TrialState.COMPLETE, "fail": TrialState.FAIL}


@dataclass(frozen=True)
class AskedBatch:
    """The trials asked (rule breaks among them, told failed), and the sampler after them."""

    trials: list[StoredTrial]
    sampler: bytes
    asks: int  # study.ask() calls, rule breaks included

    @property
    def to_evaluate(self) -> list[StoredTrial]:
        return [t for t in self.trials if t.state == "running"]


def direction(objective: str) -> Literal["minimize", "maximize"]:
    return "minimize" if lower_is_better(objective) else "maximize"


def new_sampler(search: BayesSearch) -> bytes:
    """`S(seed=seed)` with its default settings, as stored before the first batch."""
    return pickle.dumps(_SAMPLERS[search.sampler](seed=search.seed))


def _distribution(dimension: Dimension) -> BaseDistribution:
    """The distribution the suggest call for `dimension` creates."""
    if dimension.kind == "categorical":
        return CategoricalDistribution(list(dimension.choices))
    if dimension.kind == "int":
        step = int(dimension.step or 1)
        return IntDistribution(
            int(dimension.low), int(dimension.high), log=dimension.log, step=step
        )
    return FloatDistribution(
        float(dimension.low), float(dimension.high), log=dimension.log, step=dimension.step
    )


def suggest(trial: Trial, dimensions: Sequence[Dimension]) -> dict[str, Any]:
    """The trial's values, suggested in `param_space` order by the contract's calls."""
    params: dict[str, Any] = {}
    for d in dimensions:
        if d.kind == "categorical":
            params[d.name] = trial.suggest_categorical(d.name, list(d.choices))
        elif d.kind == "int":
            params[d.name] = trial.suggest_int(
                d.name, int(d.low), int(d.high), step=int(d.step or 1), log=d.log
            )
        else:
            params[d.name] = trial.suggest_float(
                d.name, float(d.low), float(d.high), step=d.step, log=d.log
            )
    return params


def objective_value(value: float | None) -> float | None:
    """What a trial is told: its objective, or None (told failed) where it is undefined."""
    return None if value is None or not math.isfinite(value) else float(value)


def _study(objective: str, sampler: BaseSampler) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(direction=direction(objective), sampler=sampler)


def _replayed(
    objective: str,
    sampler: BaseSampler,
    dimensions: Sequence[Dimension],
    history: Sequence[StoredTrial],
) -> optuna.Study:
    """A study holding `history` (every trial asked so far, finished, in trial order)."""
    study = _study(objective, sampler)
    distributions = {d.name: _distribution(d) for d in dimensions}
    frozen = []
    for i, stored in enumerate(sorted(history, key=lambda t: t.number)):
        if stored.number != i or stored.state == "running":
            raise ValueError(f"trial {stored.number} cannot be replayed ({stored.state})")
        complete = stored.state == "complete"
        frozen.append(
            create_trial(
                state=_STATES[stored.state],
                value=stored.value if complete else None,
                params=stored.params,
                distributions=distributions,
                system_attrs=stored.system_attrs,
            )
        )
    study.add_trials(frozen)
    return study


def ask_batch(
    objective: str,
    dimensions: Sequence[Dimension],
    sampler: bytes,
    history: Sequence[StoredTrial],
    wanted: int,
    asks_left: int,
    breaks_rule: Callable[[Mapping[str, Any]], bool],
) -> AskedBatch:
    """Ask until `wanted` trials keep the strategy's rules or `asks_left` asks are spent;
    each that breaks them is told failed at once."""
    with warnings.catch_warnings():
        # CMA-ES warns that it samples categorical parameters independently, TPE of
        # experimental options: the contract takes the samplers as they are.
        warnings.simplefilter("ignore")
        study = _replayed(objective, pickle.loads(sampler), dimensions, history)
        asked: list[tuple[Trial, dict[str, Any], bool]] = []
        asks, kept = 0, 0
        while kept < wanted and asks < asks_left:
            trial = study.ask()
            asks += 1
            params = suggest(trial, dimensions)
            broken = breaks_rule(params)
            if broken:
                study.tell(trial, state=TrialState.FAIL)
            else:
                kept += 1
            asked.append((trial, params, broken))
        frozen = {t.number: t for t in study.get_trials(deepcopy=False)}
        trials = [
            StoredTrial(
                trial.number,
                params,
                dict(frozen[trial.number].system_attrs),
                "fail" if broken else "running",
            )
            for trial, params, broken in asked
        ]
        return AskedBatch(trials, pickle.dumps(study.sampler), asks)


def importances(
    objective: str, dimensions: Sequence[Dimension], history: Sequence[StoredTrial]
) -> dict[str, float] | None:
    """Optuna's `get_param_importances` over the finished search, by PED-ANOVA (deterministic,
    and 2 s for 100,000 trials where fANOVA's forests take minutes for 2,000); None when it
    is undefined (fewer than two trials with a value, or no spread in them)."""
    if sum(t.state == "complete" for t in history) < 2:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = _replayed(objective, RandomSampler(seed=0), dimensions, history)
        try:
            found = get_param_importances(study, evaluator=PedAnovaImportanceEvaluator())
        except (RuntimeError, ValueError):
            return None
    values = {name: float(v) for name, v in found.items()}
    return values if all(math.isfinite(v) for v in values.values()) else None
