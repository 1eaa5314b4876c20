"""TPE's work shared between the asks of one batch, the trials asked unchanged.

Within one batch no trial finishes and no asked trial's values change, so what TPE derives
from the finished trials alone is the same at every ask of the batch: each trial's values
read into arrays, the Parzen estimator of the better trials, and the Gaussian masses its
densities are built of. `batch_work_shared` keeps them for the batch's asks; every RNG draw
and every number the sampler computes stays what it would have been (the tests in
tests/unit/services/engine/test_bayes_study.py compare the trials with the contract's loop).
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler, TPESampler
from optuna.samplers._tpe import _truncnorm
from optuna.samplers._tpe import sampler as tpe_sampler
from optuna.samplers._tpe.parzen_estimator import _ParzenEstimator
from optuna.samplers._tpe.probability_distributions import (
    _BatchedCategoricalDistributions,
    _MixtureOfProductDistribution,
    _unique_inverse_2d,
)
from optuna.trial import FrozenTrial, TrialState

from services.engine.optimization.tpe_log_ndtr import log_ndtr

# Optuna's TPE looks it up in its module at every call: the compiled one, the same bits.
_truncnorm._log_ndtr = log_ndtr

_optuna_split_trials = tpe_sampler._split_trials
# The finished trials' splits of the batch being asked in this thread, if one is.
_asking = threading.local()


def _split_trials(
    study: optuna.Study, trials: list[FrozenTrial], n_below: int
) -> tuple[list[FrozenTrial], list[FrozenTrial]]:
    """Optuna's `_split_trials`: while a batch is asked in this thread, the finished trials
    (the same at every ask of it) split once, the running ones added to the worse as Optuna
    adds them (its lists are in trial order)."""
    splits: dict[tuple[int, tuple[int, ...]], Any] | None = getattr(_asking, "splits", None)
    if splits is None:
        return _optuna_split_trials(study, trials, n_below)
    finished = [t for t in trials if t.state != TrialState.RUNNING]
    key = (n_below, tuple(t.number for t in finished))
    if key not in splits:
        splits[key] = _optuna_split_trials(study, finished, n_below)
    below, above = splits[key]
    running = [t for t in trials if t.state == TrialState.RUNNING]
    return list(below), sorted([*above, *running], key=lambda trial: trial.number)


tpe_sampler._split_trials = _split_trials


class _Placed(NamedTuple):
    """Where one parameter's values and kernels are in its `_SteppedMasses`, and the (a, b)
    arrays of the masses they add: the new columns' bounds and the rows known before at
    them, if `new_columns`, then the new rows at every column, if `new_rows`."""

    rows: np.ndarray  # each value's
    columns: np.ndarray  # each kernel's
    new_columns: bool
    new_rows: bool
    pairs: list[tuple[np.ndarray, np.ndarray]]


# Masses a `_SteppedMasses` keeps at most (8 MB): a long search's fine steps would make
# every value met times every kernel met too many.
_CELLS_KEPT = 1 << 20


class _SteppedMasses:
    """A stepped parameter's Gaussian log masses over a batch's asks, for every kernel
    (mu, sigma) and value met: each kernel's between the bounds, and around each value (one
    step wide), as Optuna's `_MixtureOfProductDistribution.log_pdf` computes them."""

    def __init__(self, distribution: Any) -> None:
        self.low, self.high = distribution.adapted_low, distribution.adapted_high
        self.step, self.log = distribution.step, distribution.is_log
        self._clear()
        # The unique kernels of the kernels placed last, by their mu array (held, so its id
        # stays its own): the better trials' estimator is the same at every ask of the batch.
        self._placed_kernels: dict[int, tuple[np.ndarray, list[bytes], np.ndarray]] = {}

    def _clear(self) -> None:
        self.columns: dict[bytes, int] = {}  # by the kernel's (mu, sigma) bits
        self.rows: dict[int, int] = {}  # by the value's bits
        self.mu, self.sigma = np.empty(0), np.empty(0)  # by column
        self.left, self.right = np.empty(0), np.empty(0)  # by row: the value's interval
        self.bounds = np.empty(0)  # by column
        self.around = np.empty((0, 0))  # by row and column

    def _unique_kernels(self, mu: np.ndarray, sigma: np.ndarray) -> tuple[list[bytes], np.ndarray]:
        """Each unique (mu, sigma)'s bits, and each kernel's place among them."""
        known = self._placed_kernels.pop(id(mu), None)
        if known is not None and known[0] is mu:
            keys, kernel = known[1], known[2]
        else:
            mu_u, sigma_u, kernel = _unique_inverse_2d(mu, sigma)
            keys = np.stack([mu_u, sigma_u], axis=1).view("V16").ravel().tolist()
        self._placed_kernels[id(mu)] = (mu, keys, kernel)
        while len(self._placed_kernels) > 2:
            del self._placed_kernels[next(iter(self._placed_kernels))]
        return keys, kernel

    def place(self, mu: np.ndarray, sigma: np.ndarray, values: np.ndarray) -> _Placed:
        """The kernels' columns and the values' rows, new ones added (their masses to be
        stored before the next placing); the table starts over past `_CELLS_KEPT`."""
        kernel_keys, kernel = self._unique_kernels(mu, sigma)
        value_keys = np.ascontiguousarray(values).view(np.int64).tolist()
        new_columns = [k for k in kernel_keys if k not in self.columns]
        new_rows = [k for k in dict.fromkeys(value_keys) if k not in self.rows]
        cells = (len(self.rows) + len(new_rows)) * (len(self.columns) + len(new_columns))
        if cells > _CELLS_KEPT:
            self._clear()
            new_columns, new_rows = list(kernel_keys), list(dict.fromkeys(value_keys))
        for key in new_columns:
            self.columns[key] = len(self.columns)
        for key in new_rows:
            self.rows[key] = len(self.rows)
        columns = np.array([self.columns[k] for k in kernel_keys], dtype=np.intp)[kernel]
        rows = np.array([self.rows[k] for k in value_keys], dtype=np.intp)
        pairs: list[tuple[np.ndarray, np.ndarray]] = []
        if new_columns:
            added = np.frombuffer(b"".join(new_columns), dtype=np.float64).reshape(-1, 2)
            mu_new, sigma_new = added[:, 0].copy(), added[:, 1].copy()
            pairs.append(((self.low - mu_new) / sigma_new, (self.high - mu_new) / sigma_new))
            pairs.append(self._intervals(self.left, self.right, mu_new, sigma_new))
            self.mu = np.concatenate([self.mu, mu_new])
            self.sigma = np.concatenate([self.sigma, sigma_new])
        if new_rows:
            centers = np.array(new_rows, dtype=np.int64).view(np.float64)
            left, right = centers - self.step / 2, centers + self.step / 2
            if self.log:
                left, right = np.log(left), np.log(right)
            pairs.append(self._intervals(left, right, self.mu, self.sigma))
            self.left = np.concatenate([self.left, left])
            self.right = np.concatenate([self.right, right])
        return _Placed(rows, columns, bool(new_columns), bool(new_rows), pairs)

    @staticmethod
    def _intervals(
        left: np.ndarray, right: np.ndarray, mu: np.ndarray, sigma: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        return (left[:, np.newaxis] - mu) / sigma, (right[:, np.newaxis] - mu) / sigma

    def store(self, placed: _Placed, masses: list[np.ndarray]) -> None:
        """The masses of `placed.pairs`, in their order."""
        if placed.new_columns:
            bounds, at_new_columns, *masses = masses
            self.bounds = np.concatenate([self.bounds, bounds])
            self.around = np.concatenate([self.around, at_new_columns], axis=1)
        if placed.new_rows:
            self.around = np.concatenate([self.around, masses[0]], axis=0)

    def terms(self, placed: _Placed) -> tuple[np.ndarray, np.ndarray]:
        """The values' log masses at each kernel, and each kernel's between the bounds."""
        return self.around[placed.rows][:, placed.columns], self.bounds[placed.columns]


# By a stepped parameter's place in the space, range, step and scale (a table is placed and
# stored once per density, so two parameters do not share one).
SteppedMasses = dict[tuple[int, float, float, float, bool], _SteppedMasses]


def _stepped_terms(
    mixture: _MixtureOfProductDistribution, x: np.ndarray, kept: SteppedMasses
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Each stepped parameter's terms of `mixture`'s log density at `x`, by its place; the
    masses `kept` lacks computed in one call (elementwise: each mass has the bits it has
    among other elements)."""
    placed: list[tuple[int, _SteppedMasses, _Placed]] = []
    for i, d in enumerate(mixture.distributions):
        if isinstance(d, _BatchedCategoricalDistributions) or d.step == 0.0:
            continue
        key = (i, d.low, d.high, d.step, d.is_log)
        if (masses := kept.get(key)) is None:
            masses = kept[key] = _SteppedMasses(d)
        placed.append((i, masses, masses.place(d.mu, d.sigma, x[:, i])))
    pairs = [pair for _, _, p in placed for pair in p.pairs]
    if pairs:
        computed = _truncnorm._log_gauss_mass(
            np.concatenate([a.ravel() for a, _ in pairs]),
            np.concatenate([b.ravel() for _, b in pairs]),
        )
        at = 0
        for _, masses, p in placed:
            parts = []
            for a, _ in p.pairs:
                parts.append(computed[at : at + a.size].reshape(a.shape))
                at += a.size
            masses.store(p, parts)
    return {i: masses.terms(p) for i, masses, p in placed}


def _log_pdf(
    mixture: _MixtureOfProductDistribution, x: np.ndarray, kept: SteppedMasses
) -> np.ndarray:
    """`mixture.log_pdf(x)`: the same operations in the same order, a stepped parameter's
    log masses taken from `kept` (and added to it)."""
    stepped = _stepped_terms(mixture, x, kept)
    weighted_log_pdf = np.zeros((len(x), len(mixture.weights)), dtype=np.float64)
    cont_dists, x_cont, lows_cont, highs_cont = [], [], [], []
    for i, d in enumerate(mixture.distributions):
        if isinstance(d, _BatchedCategoricalDistributions):
            xi = x[:, i, np.newaxis, np.newaxis].astype(np.int64)
            weighted_log_pdf += np.log(np.take_along_axis(d.weights[np.newaxis], xi, axis=-1))[
                ..., 0
            ]
        elif d.step == 0.0:
            cont_dists.append(d)
            x_cont.append(np.log(x[:, i]) if d.is_log else x[:, i])
            lows_cont.append(d.adapted_low)
            highs_cont.append(d.adapted_high)
        else:
            around, bounds = stepped[i]
            weighted_log_pdf += around
            weighted_log_pdf -= bounds
    if x_cont:
        mus_cont = np.asarray([d.mu for d in cont_dists]).T
        sigmas_cont = np.asarray([d.sigma for d in cont_dists]).T
        weighted_log_pdf += _truncnorm.logpdf(
            np.asarray(x_cont).T[:, np.newaxis, :],
            a=(np.asarray(lows_cont) - mus_cont) / sigmas_cont,
            b=(np.asarray(highs_cont) - mus_cont) / sigmas_cont,
            loc=mus_cont,
            scale=sigmas_cont,
        ).sum(axis=-1)
    weighted_log_pdf += np.log(mixture.weights[np.newaxis])
    max_: np.ndarray = weighted_log_pdf.max(axis=1)
    max_[np.isneginf(max_)] = 0
    with np.errstate(divide="ignore"):
        log_density: np.ndarray = (
            np.log(np.exp(weighted_log_pdf - max_[:, None]).sum(axis=1)) + max_
        )
    return log_density


@contextmanager
def batch_work_shared(sampler: BaseSampler) -> Iterator[None]:
    """TPE, at every ask, splits the finished trials into the better and the rest, reads
    every trial's values into arrays and builds two Parzen estimators: one of the better
    trials, one of the rest with the trials still running (its constant liar). Within one
    batch the split is made once, each trial's values are read once, the first estimator is
    built once, and each Gaussian mass computed once. Only while asking:
    the sampler is pickled without."""
    if not isinstance(sampler, TPESampler):
        yield
        return
    build, read = sampler._build_parzen_estimator, sampler._get_params
    estimators: dict[tuple[int, ...], Any] = {}
    values: dict[tuple[tuple[str, BaseDistribution], ...], dict[int, tuple[Any, ...] | None]] = {}

    def build_better_once(
        study: optuna.Study,
        search_space: dict[str, BaseDistribution],
        trials: list[FrozenTrial],
        handle_below: bool,
    ) -> Any:
        if not handle_below:
            return build(study, search_space, trials, handle_below)
        key = tuple(t.number for t in trials)
        if key not in estimators:
            estimators[key] = build(study, search_space, trials, handle_below)
        return estimators[key]

    def internal_values(
        trials: list[FrozenTrial], search_space: dict[str, BaseDistribution], study: optuna.Study
    ) -> dict[str, np.ndarray]:
        # TPESampler._get_internal_repr, each trial's row kept (None: a parameter missing).
        space = tuple(search_space.items())
        read_before = values.setdefault(space, {})
        rows = []
        for trial in trials:
            if trial.number not in read_before:
                params = read(trial, study)
                read_before[trial.number] = (
                    tuple(d.to_internal_repr(params[name]) for name, d in space)
                    if search_space.keys() <= params.keys()
                    else None
                )
            if (row := read_before[trial.number]) is not None:
                rows.append(row)
        return {name: np.asarray([row[i] for row in rows]) for i, (name, _) in enumerate(space)}

    # By the stepped parameter's range, step and scale: what its masses depend on.
    stepped: SteppedMasses = {}

    def acquisition(
        samples: dict[str, np.ndarray], below: _ParzenEstimator, above: _ParzenEstimator
    ) -> np.ndarray:
        # TPESampler._compute_acquisition_func; the better trials' estimator is the batch's.
        log_below = _log_pdf(below._mixture_distribution, below._transform(samples), stepped)
        log_above = _log_pdf(above._mixture_distribution, above._transform(samples), stepped)
        acquisition_values: np.ndarray = log_below - log_above
        return acquisition_values

    sampler._build_parzen_estimator = build_better_once  # type: ignore[method-assign]
    sampler._get_internal_repr = internal_values  # type: ignore[method-assign]
    sampler._compute_acquisition_func = acquisition  # type: ignore[method-assign,assignment]
    _asking.splits = {}
    try:
        yield
    finally:
        del sampler._build_parzen_estimator, sampler._get_internal_repr
        del sampler._compute_acquisition_func
        del _asking.splits
