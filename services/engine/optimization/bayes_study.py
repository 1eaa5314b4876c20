"""Optuna's side of a Bayesian search: asking a batch of trials, from the stored state.

The contract's reference (docs/optimization.md, "Bayesian search") is one study in one
process: `create_study(direction, sampler=S(seed=seed))`, then per batch `batch` calls of
`study.ask()` (a sampled set that breaks the strategy's rule told failed at once and another
asked), the batch evaluated, and every trial told in trial order. The stored state is enough
to rebuild that study for any batch: the sampler as it was after the last ask (pickled, as
Optuna's documentation says to save a sampler) and every trial asked so far, with its
parameters, what the sampler kept with it (`system_attrs`) and its outcome. A sampler's
`after_trial` keeps nothing, so the rebuilt study asks what the one long-lived study would
have asked, whichever worker rebuilds it and however often one was killed. A worker keeps
the study it asked with (`SearchStudy`) and, for its next batch, replays only the trials
stored since (tests/unit/services/engine/test_bayes_study.py compares every way with the
contract's loop).

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
from optuna.trial import FrozenTrial, Trial, TrialState, create_trial

from domain.optimization.ranking import lower_is_better
from services.engine.optimization.tpe_batch import batch_work_shared
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


class SearchStudy:
    """One search's study, held in memory from batch to batch.

    It starts from the stored state (`of_stored`) and is brought up to date before each batch
    by `catch_up` with only the trials stored since it last saw them: its own batch's trials
    told their outcomes in trial order, as the contract's loop tells them; trials another
    process asked meanwhile added as finished; and the stored sampler put in when another
    process asked last. A new study caught up on every stored trial is the rebuilt study.
    """

    def __init__(
        self, objective: str, dimensions: Sequence[Dimension], sampler: BaseSampler
    ) -> None:
        self._dimensions = tuple(dimensions)
        self._distributions = {d.name: _distribution(d) for d in dimensions}
        self._study = _study(objective, sampler)
        self._held = 0  # trials numbered 0 .. held - 1 are in the study
        self._running: list[int] = []  # asked by this study and not yet told

    @classmethod
    def of_stored(
        cls, objective: str, dimensions: Sequence[Dimension], sampler: bytes
    ) -> "SearchStudy":
        return cls(objective, dimensions, pickle.loads(sampler))

    @property
    def settled_before(self) -> int:
        """Trials numbered below this are in the study with their outcomes: catch_up wants
        every stored trial from this number on."""
        return self._running[0] if self._running else self._held

    def catch_up(self, stored: Sequence[StoredTrial], sampler: bytes | None = None) -> None:
        """Every stored trial numbered from `settled_before` on (each finished), and the
        stored sampler where another process asked since this study's last batch."""
        running = set(self._running)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            added: list[FrozenTrial] = []
            for trial in sorted(stored, key=lambda t: t.number):
                if trial.state == "running":
                    raise ValueError(f"trial {trial.number} cannot be told: still running")
                if trial.number < self._held:  # asked here: told now, or at once (a rule break)
                    if trial.number in running:
                        running.remove(trial.number)
                        self._tell(trial)
                    continue
                if trial.number != self._held + len(added):
                    raise ValueError(f"trial {trial.number} cannot be replayed out of order")
                added.append(self._frozen(trial))
            if running:
                raise ValueError(f"trials {sorted(running)} have no stored outcome")
            self._study.add_trials(added)
        self._held += len(added)
        self._running = []
        if sampler is not None:
            self._study.sampler = pickle.loads(sampler)

    def _tell(self, stored: StoredTrial) -> None:
        if stored.state == "complete":
            self._study.tell(stored.number, stored.value)
        else:
            self._study.tell(stored.number, state=TrialState.FAIL)

    def _frozen(self, stored: StoredTrial) -> FrozenTrial:
        complete = stored.state == "complete"
        return create_trial(
            state=_STATES[stored.state],
            value=stored.value if complete else None,
            params=stored.params,
            distributions=self._distributions,
            system_attrs=stored.system_attrs,
        )

    def ask(
        self, wanted: int, asks_left: int, breaks_rule: Callable[[Mapping[str, Any]], bool]
    ) -> AskedBatch:
        """Ask until `wanted` trials keep the strategy's rules or `asks_left` asks are spent;
        each that breaks them is told failed at once."""
        study = self._study
        with warnings.catch_warnings(), batch_work_shared(study.sampler):
            # CMA-ES warns that it samples categorical parameters independently, TPE of
            # experimental options: the contract takes the samplers as they are.
            warnings.simplefilter("ignore")
            asked: list[tuple[Trial, dict[str, Any], bool]] = []
            asks, kept = 0, 0
            while kept < wanted and asks < asks_left:
                trial = study.ask()
                asks += 1
                params = suggest(trial, self._dimensions)
                broken = breaks_rule(params)
                if broken:
                    study.tell(trial, state=TrialState.FAIL)
                else:
                    kept += 1
                asked.append((trial, params, broken))
        frozen = study.get_trials(deepcopy=False)
        trials = [
            StoredTrial(
                trial.number,
                params,
                dict(frozen[trial.number].system_attrs),
                "fail" if broken else "running",
            )
            for trial, params, broken in asked
        ]
        self._held += asks
        self._running = [t.number for t in trials if t.state == "running"]
        return AskedBatch(trials, pickle.dumps(study.sampler), asks)

    def importances(self) -> dict[str, float] | None:
        """Optuna's `get_param_importances` by PED-ANOVA; None where it is undefined (fewer
        than two trials with a value, or no spread in them)."""
        if len(self._study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))) < 2:
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                found = get_param_importances(self._study, evaluator=PedAnovaImportanceEvaluator())
            except (RuntimeError, ValueError):
                return None
        values = {name: float(v) for name, v in found.items()}
        return values if all(math.isfinite(v) for v in values.values()) else None


def study_to_ask(
    held: tuple[int, SearchStudy] | None,
    batch: int,
    sampler: bytes,
    objective: str,
    dimensions: Sequence[Dimension],
) -> tuple[SearchStudy, bytes | None]:
    """The study to ask the next batch with, given the stored batch count and sampler, and
    the sampler its catch_up takes: the one this process holds (with the batch count it was
    kept at) when no later state was stored before it, the stored sampler going with it
    where another process asked since; else a new one from the stored sampler."""
    if held is None or held[0] > batch:
        return SearchStudy.of_stored(objective, dimensions, sampler), None
    kept_at, study = held
    return study, None if kept_at == batch else sampler


def ask_batch(
    objective: str,
    dimensions: Sequence[Dimension],
    sampler: bytes,
    history: Sequence[StoredTrial],
    wanted: int,
    asks_left: int,
    breaks_rule: Callable[[Mapping[str, Any]], bool],
) -> AskedBatch:
    """A batch asked of the study rebuilt from the stored state alone (the sampler after the
    last ask, every trial asked so far), as a process that holds no study asks it."""
    study = SearchStudy.of_stored(objective, dimensions, sampler)
    study.catch_up(history)
    return study.ask(wanted, asks_left, breaks_rule)


def importances(
    objective: str,
    dimensions: Sequence[Dimension],
    stored: Sequence[StoredTrial],
    held: SearchStudy | None = None,
) -> dict[str, float] | None:
    """Optuna's `get_param_importances` over the finished search, by PED-ANOVA (deterministic,
    and 2 s for 100,000 trials where fANOVA's forests take minutes for 2,000); None when it
    is undefined. `held`: a study of the search to catch up on `stored` (the trials from its
    `settled_before` on) rather than a new one built from every stored trial, which takes
    most of the time (10 of 13 ms for 200 trials): the same trials, the same values."""
    study = held or SearchStudy(objective, dimensions, RandomSampler(seed=0))
    study.catch_up(stored)
    return study.importances()
