"""A Bayesian search on the optimization's chunks: batches asked, evaluated anywhere, told.

The planner opens the search (one per walk-forward window) and asks its first batch; the
batch's trials become chunks that any engine worker takes, as a grid's sets do. The worker
that records the batch's last chunk tells the batch and asks the next one in the same
transaction (under the optimization's row lock, store.lock_for_outcome), or ends the search:
a plain search finishes the optimization, a window's releases its test run. A worker killed
at any point commits nothing of what it was doing, its chunk comes back, and the next worker
rebuilds the study from the stored trials (bayes_study.py): no trial lost, none twice.

A worker keeps in memory the studies it asked the last batch of (`HeldStudies`, taken in the
asking transaction and kept again only once it commits), so when it asks again it replays
only the trials stored since; the stored state stays the truth, and a study another worker
has asked with since is brought up to date from it.
"""

import asyncio
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from domain.optimization.plan import ChunkPlan, batch_chunks
from domain.optimization.ranking import best_of
from domain.optimization.walk_forward import walk_forward_windows
from domain.research.robustness import SetStatistics
from services.engine.optimization.bayes_study import (
    AskedBatch,
    SearchStudy,
    importances,
    new_sampler,
    objective_value,
    study_to_ask,
)
from services.engine.optimization.in_pool import SetResult, best_result
from services.engine.optimization.outcomes import grid_robustness
from shared.db import DbConnection
from shared.optimization_spec import OptimizationSpec
from shared.param_space import ASKS_PER_TRIAL, BayesSearch
from shared.repos import bayes_trials as bayes_store
from shared.repos import optimization_chunks as store
from shared.repos import optimizations as optimizations_repo
from shared.repos.bayes_trials import ChunkTrial, SearchRow, StoredTrial
from shared.repos.optimization_chunks import ChunkWork


def trial_key(number: int) -> str:
    """A search's result row key: its trial number, zero-padded."""
    return f"{number:08d}"


@dataclass(frozen=True)
class Search:
    """One search of an optimization: the plain one (window None) or a window's training."""

    optimization_id: UUID
    spec: OptimizationSpec
    bars: int  # the bars each trial runs on: the range's, or the window's train bars
    window: int | None

    @property
    def number(self) -> int:
        return 0 if self.window is None else self.window

    @property
    def plan(self) -> BayesSearch:
        assert self.spec.search is not None
        return self.spec.search

    @classmethod
    def of_chunk(cls, work: ChunkWork, spec: OptimizationSpec) -> "Search":
        if work.window is None or spec.walk_forward is None:
            return cls(work.optimization_id, spec, work.bars, None)
        window = walk_forward_windows(work.bars, spec.walk_forward)[work.window]
        return cls(work.optimization_id, spec, window.train_to - window.train_from, work.window)


# Studies a worker holds at most (a walk-forward searches each window with its own).
_STUDIES_HELD = 32


@dataclass
class HeldStudies:
    """The studies this process asked the latest batch of, by optimization and search, each
    with the search's batch count when it was kept (the stored count then)."""

    _held: OrderedDict[tuple[UUID, int], tuple[int, SearchStudy]] = field(
        default_factory=OrderedDict
    )

    def take(self, search: "Search") -> tuple[int, SearchStudy] | None:
        return self._held.pop((search.optimization_id, search.number), None)

    def keep(self, search: "Search", batch: int, study: SearchStudy) -> None:
        self._held[search.optimization_id, search.number] = (batch, study)
        while len(self._held) > _STUDIES_HELD:
            self._held.popitem(last=False)


def evaluation_sets(spec: OptimizationSpec, trials: list[ChunkTrial]) -> list[dict[str, Any]]:
    """Each trial's parameter set: the request's parameters with the trial's values."""
    base = spec.backtest.strategy.resolved_params
    return [{**base, **t.params} for t in trials]


async def open_searches(
    conn: DbConnection, optimization_id: UUID, spec: OptimizationSpec, bars: int
) -> None:
    """Open every search of the optimization and ask each one's first batch; call inside
    the planning transaction."""
    assert spec.search is not None
    searches = [Search(optimization_id, spec, bars, None)]
    if spec.walk_forward is not None:
        searches = [
            Search(optimization_id, spec, w.train_to - w.train_from, w.index)
            for w in walk_forward_windows(bars, spec.walk_forward)
        ]
    sampler = new_sampler(spec.search)
    for search in searches:
        await bayes_store.open_search(conn, optimization_id, search.number, sampler)
        await _ask_next(conn, search, None)


async def record_trials(
    conn: DbConnection,
    work: ChunkWork,
    spec: OptimizationSpec,
    trials: list[ChunkTrial],
    results: list[SetResult],
    statistics: SetStatistics,
    studies: HeldStudies,
) -> bool:
    """Record a chunk's trials (a plain search's rows; a window's best), tell them, and if
    they were its batch's last, ask the next batch (with the study this worker holds, if
    any) or end the search. False when nothing was written (the optimization stopped
    running or the chunk was done already)."""
    search = Search.of_chunk(work, spec)
    objective = spec.objective
    number_at = {t.position: t.number for t in trials}
    asked: tuple[int, SearchStudy] | None = None
    async with conn.transaction():
        if not await store.lock_for_outcome(conn, work):
            return False
        chosen = None
        if search.window is None:
            rows = [
                (
                    trial_key(number_at[r.index]),
                    r.index,
                    {"trial": number_at[r.index], "params": r.params, "metrics": r.metrics},
                )
                for r in results
            ]
            await store.insert_rows(conn, work.optimization_id, rows)
        else:
            best = best_result(results, objective)
            chosen = {"index": best.index, "params": best.params, "metrics": best.metrics}
        await store.mark_done(
            conn, work, len(results), result=chosen, statistics=statistics.to_bytes()
        )
        told = [(number_at[r.index], objective_value(r.metrics.get(objective))) for r in results]
        still_running = await bayes_store.tell(conn, work.optimization_id, search.number, told)
        if not still_running:
            asked = await _ask_next(conn, search, studies.take(search))
    if asked is not None:  # committed: the study is the stored state's
        studies.keep(search, *asked)
    return True


def _breaks_rule(spec: OptimizationSpec) -> Any:
    entry = spec.backtest.strategy.entry()
    base = spec.backtest.strategy.resolved_params

    def breaks(params: Mapping[str, Any]) -> bool:
        return entry.broken_rule({**base, **params}) is not None

    return breaks


async def _ask_next(
    conn: DbConnection, search: Search, held: tuple[int, SearchStudy] | None
) -> tuple[int, SearchStudy] | None:
    """Ask the search's next batch and queue its chunks, or end the search; the study asked
    with and the batch count it leaves stored, None when the search ended. `held`: this
    process's study of the search, with the batch count it was kept at."""
    oid, plan = search.optimization_id, search.plan
    row = await bayes_store.search_row(conn, oid, search.number)
    wanted = min(plan.batch, plan.trials - row.evaluated)
    asks_left = ASKS_PER_TRIAL * plan.trials - row.asks
    spec = search.spec
    study, sampler = study_to_ask(held, row.batch, row.sampler, spec.objective, spec.dimensions())
    if wanted <= 0 or asks_left <= 0:
        await _end(conn, search, row, study)
        return None
    stored = await bayes_store.history(conn, oid, search.number, study.settled_before)

    def catch_up_and_ask() -> AskedBatch:
        study.catch_up(stored, sampler)
        return study.ask(wanted, asks_left, _breaks_rule(spec))

    asked = await asyncio.to_thread(catch_up_and_ask)
    evaluate = asked.to_evaluate
    chunks: list[ChunkPlan] = []
    if evaluate:
        first_chunk = await bayes_store.next_chunk(conn, oid)
        chunks = batch_chunks(len(evaluate), search.bars, first_chunk, row.evaluated, search.window)
    placed: list[tuple[StoredTrial, int | None, int | None]] = []
    position = row.evaluated
    for trial in asked.trials:
        if trial.state == "fail":
            placed.append((trial, None, None))
            continue
        chunk = next(c.chunk for c in chunks if c.set_from <= position < c.set_to)
        placed.append((trial, position, chunk))
        position += 1
    await bayes_store.add_trials(conn, oid, search.number, row.batch, placed)
    await bayes_store.asked(conn, oid, search.number, asked.sampler, asked.asks)
    if not evaluate:
        await _end(conn, search, await bayes_store.search_row(conn, oid, search.number))
        return None
    await store.queue_chunks(conn, oid, chunks)
    return row.batch + 1, study


async def _end(
    conn: DbConnection, search: Search, row: SearchRow, study: SearchStudy | None = None
) -> None:
    """End the search: its warning if it ended early, then the window's test run or the
    optimization's finish. `study`: this process's study of the search, if it holds one
    (caught up on the stored trials for the parameter importance)."""
    oid, plan = search.optimization_id, search.plan
    ended = None
    if row.evaluated < plan.trials:
        where = "" if search.window is None else f"window {search.window}: "
        ended = (
            f"{where}the search ended early: {row.asks} sets asked (at most"
            f" {ASKS_PER_TRIAL} x trials), {row.asks - row.evaluated} of them broke the"
            f" strategy's rules, {row.evaluated} of {plan.trials} trials evaluated"
        )
        await bayes_store.add_warning(conn, oid, ended, plan.trials - row.evaluated)
    await bayes_store.end_search(conn, oid, search.number, ended)
    if row.evaluated == 0:
        await optimizations_repo.fail_optimization(
            conn, oid, ended or "no trial of the space kept the strategy's rules"
        )
        return
    if search.window is not None:
        await _release_window_test(conn, search)
        return
    objective = search.spec.objective
    best = await optimizations_repo.best_row(conn, oid, "bayes", objective)
    position = await optimizations_repo.best_position(conn, oid, "bayes", objective)
    figures = await grid_robustness(conn, oid, position)
    since = 0 if study is None else study.settled_before
    stored = await bayes_store.history(conn, oid, search.number, since)
    dimensions = search.spec.dimensions()
    importance = await asyncio.to_thread(importances, objective, dimensions, stored, study)
    summary = {
        "trials": row.evaluated,
        "asks": row.asks,
        "rule_breaks": row.asks - row.evaluated,
        "batches": row.batch,
        "sampler": plan.sampler,
        "seed": plan.seed,
        "importance": importance,
    }
    await bayes_store.record_summary(conn, oid, summary)
    await optimizations_repo.finish_optimization(conn, oid, best, None, robustness=figures)


async def _release_window_test(conn: DbConnection, search: Search) -> None:
    """The window's best trial, with its train search's robustness, goes to its test run."""
    assert search.window is not None
    oid = search.optimization_id
    candidates = await store.train_results(conn, oid, search.window)
    objective = search.spec.objective
    winner = best_of(candidates, objective, lambda c: c["metrics"], lambda c: c["index"])
    winner["robustness"] = await grid_robustness(conn, oid, winner["index"], search.window)
    await store.release_test(conn, oid, search.window, winner)
