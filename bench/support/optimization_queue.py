"""An optimization through the queue, as a benchmark times it: the job created in the
database, planned and run by `workers` engine workers (`python -m services.engine`, one pool
process each), from its `created_at` to its `finished_at`, best of `repeats` in a row, with
the CPU time the workers (their pool processes included) spent on it."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg

from bench.support.proc_stats import tree_cpu_seconds
from bench.support.service_stack import running_engines
from devtools.job_follower import follow_job
from devtools.launcher import tail
from shared.db import create_pool
from shared.messages import RunOptimizationChunk
from shared.optimization_spec import OptimizationSpec
from shared.repos import optimizations as optimizations_repo
from shared.settings import Settings


@dataclass(frozen=True)
class QueueRun:
    seconds: float  # the job's finished_at - created_at
    engine_cpu_seconds: float  # engine workers and their pool processes, during the job
    chunks: int


async def through_the_queue(
    settings: Settings, request: dict[str, Any], workers: int, repeats: int, logs: Path
) -> QueueRun:
    """The shortest of `repeats` optimizations of `request` (a POST /optimizations body)."""
    spec = OptimizationSpec.model_validate(request)
    sets, skipped = spec.combinations()
    best = QueueRun(float("inf"), 0.0, 0)
    # RunOptimizationChunk: the last queue an engine consumes.
    async with running_engines(settings, workers, logs, consuming=RunOptimizationChunk) as engines:
        pool = await create_pool(settings.database_url, max_size=1)
        try:
            for _ in range(max(repeats, 1)):
                cpu_before = sum(tree_cpu_seconds(e.pid) for e in engines)
                async with pool.acquire() as conn:
                    optimization_id = await optimizations_repo.create_optimization(
                        conn, spec.kind, spec.model_dump(mode="json"), len(sets), skipped
                    )
                job = await _wait_settled(pool, optimization_id, within=300)
                cpu = sum(tree_cpu_seconds(e.pid) for e in engines) - cpu_before
                if job["status"] != "succeeded":
                    raise RuntimeError(
                        f"the optimization is {job['status']}: {job['error']}; engine log:\n"
                        f"{tail(logs / 'engine-0.log')}"
                    )
                seconds = (job["finished_at"] - job["created_at"]).total_seconds()
                if seconds < best.seconds:
                    chunks = await pool.fetchval(
                        "SELECT count(*) FROM optimization_chunks WHERE optimization_id = $1",
                        optimization_id,
                    )
                    best = QueueRun(seconds, cpu, int(chunks))
        finally:
            await pool.close()
    return best


async def _wait_settled(pool: asyncpg.Pool, optimization_id: UUID, *, within: float) -> Any:
    """The optimization's status, error and times once it has settled."""

    async def read() -> Any:
        return await pool.fetchrow(
            "SELECT status, error, created_at, finished_at FROM optimizations WHERE id = $1",
            optimization_id,
        )

    return await follow_job(read, within=within, every=0.05, what="optimization")
