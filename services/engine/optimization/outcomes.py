"""Recording a chunk's outcome, and what follows from it: a window's test run, the finish.

Each `record_*` is one transaction (see store); it returns False when nothing
was written because the optimization stopped running or the chunk was done already.
"""

import asyncio
import json
import logging
from typing import Any
from uuid import UUID

import numpy as np

from domain.metrics.performance import Metric
from domain.metrics.sweep import TestRun, chained_metrics
from domain.optimization.ranking import best_of
from domain.research.robustness import SetStatistics, robustness
from services.engine.optimization.in_pool import SetResult
from shared.db import DbConnection
from shared.repos import optimization_chunks as store
from shared.repos import optimizations as optimizations_repo
from shared.repos.optimization_chunks import ChunkWork

log = logging.getLogger(__name__)


def params_key(params: dict[str, Any]) -> str:
    """A grid row's key: its parameters as canonical JSON."""
    return json.dumps(params, sort_keys=True, separators=(",", ":"))


def window_key(window: int) -> str:
    return f"{window:06d}"


async def grid_robustness(
    conn: DbConnection, optimization_id: UUID, best_index: int | None, window: int | None = None
) -> dict[str, Any]:
    """The grid's (or window's train grid's, or a Bayesian search's evaluated trials')
    robustness, combined off the event loop."""
    parts = await store.chunk_statistics(conn, optimization_id, window)
    return await asyncio.to_thread(
        lambda: robustness([SetStatistics.from_bytes(p) for p in parts], best_index)
    )


def warm_up_robustness() -> None:
    """Load the combining's compiled loop (from the numba cache: about 0.3 s) in the engine
    process as it starts, so that no optimization's last chunk waits for it."""
    sums = np.arange(8.0).reshape(2, 4)
    robustness([SetStatistics.of(0, [None, None], sums, sums**2 + 1.0, 3)], None)


async def record_grid(
    conn: DbConnection, work: ChunkWork, results: list[SetResult], statistics: SetStatistics
) -> bool:
    async with conn.transaction():
        if not await store.lock_for_outcome(conn, work):
            return False
        rows = [
            (params_key(r.params), r.index, {"params": r.params, "metrics": r.metrics})
            for r in results
        ]
        await store.insert_rows(conn, work.optimization_id, rows)
        await store.mark_done(conn, work, len(results), statistics=statistics.to_bytes())
        await _finish_if_last(conn, work)
    return True


async def record_train(
    conn: DbConnection, work: ChunkWork, best: SetResult, statistics: SetStatistics
) -> bool:
    assert work.window is not None
    async with conn.transaction():
        if not await store.lock_for_outcome(conn, work):
            return False
        chosen = {"index": best.index, "params": best.params, "metrics": best.metrics}
        units = work.set_to - work.set_from
        await store.mark_done(conn, work, units, result=chosen, statistics=statistics.to_bytes())
        if not await store.chunks_left(conn, work.optimization_id, work.window):
            candidates = await store.train_results(conn, work.optimization_id, work.window)
            objective = work.request["objective"]
            winner = best_of(candidates, objective, lambda c: c["metrics"], lambda c: c["index"])
            winner["robustness"] = await grid_robustness(
                conn, work.optimization_id, winner["index"], work.window
            )
            await store.release_test(conn, work.optimization_id, work.window, winner)
    return True


async def record_test(
    conn: DbConnection,
    work: ChunkWork,
    row: dict[str, Any],
    metrics: dict[str, Metric],
    run: TestRun,
) -> bool:
    async with conn.transaction():
        if not await store.lock_for_outcome(conn, work):
            return False
        assert work.window is not None
        rows = [(window_key(work.window), work.window, row)]
        await store.insert_rows(conn, work.optimization_id, rows)
        assert work.chosen is not None
        kept = {
            "params": work.chosen["params"],
            "metrics": metrics,
            "closed_pnl": run.closed_pnl,
            "closed_returns": run.closed_returns,
            "bars_held": run.bars_held,
        }
        await store.mark_done(conn, work, 1, result=kept, curve=(run.times, run.equity))
        await _finish_if_last(conn, work)
    return True


async def _finish_if_last(conn: DbConnection, work: ChunkWork) -> None:
    if await store.chunks_left(conn, work.optimization_id):
        return
    log.debug("optimization finishing", extra={"optimization_id": str(work.optimization_id)})
    request = work.request
    if request["kind"] == "grid":
        objective = request["objective"]
        best = await optimizations_repo.best_row(conn, work.optimization_id, "grid", objective)
        position = await optimizations_repo.best_position(
            conn, work.optimization_id, "grid", objective
        )
        figures = await grid_robustness(conn, work.optimization_id, position)
        await optimizations_repo.finish_optimization(
            conn, work.optimization_id, best, None, robustness=figures
        )
        return
    outcomes = await optimizations_repo.test_outcomes(conn, work.optimization_id)
    runs = [
        TestRun(
            times,
            equity,
            kept["closed_pnl"],
            kept["closed_returns"],
            kept["bars_held"],
            kept["metrics"],
        )
        for kept, times, equity in outcomes
    ]
    backtest = request["backtest"]  # stored with its defaults filled in
    summary = {
        "windows": len(runs),
        "test_metrics": chained_metrics(runs, backtest["interval"], backtest["initial_capital"]),
    }
    # The latest window's choice is the set to trade next (its `best`).
    last = await optimizations_repo.last_window_row(conn, work.optimization_id)
    assert last is not None
    best = {k: last[k] for k in ("window", "params", "train_metrics", "test_metrics")}
    await optimizations_repo.finish_optimization(conn, work.optimization_id, best, summary)
