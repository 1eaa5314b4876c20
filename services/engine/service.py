"""The engine process: backtest and optimization jobs from the queue, simulations in a process
pool, SIGTERM."""

import asyncio
import logging

from domain.strategies import install_strategies
from services.engine.backtests.consumer import BacktestWorker
from services.engine.optimization.chunk_consumer import ChunkWorker
from services.engine.optimization.outcomes import warm_up_robustness
from services.engine.optimization.planner import OptimizationPlanner
from services.engine.simulation_pool import SimulationPool
from shared.consumer import Consumer, GiveUp, Handler, M, consume
from shared.messages import RunBacktest, RunOptimizationChunk, StartOptimization
from shared.settings import Settings
from shared.worker_health import WorkerHealth, health_endpoint
from shared.worker_runtime import WorkerRuntime, worker_runtime

log = logging.getLogger(__name__)


async def run_engine(settings: Settings, stopping: asyncio.Event) -> None:
    """Serve until `stopping` is set; then take no more jobs, finish those in hand, close."""
    simulations = SimulationPool(
        settings.engine_processes, settings.strategy_path, settings.engine_job_timeout_seconds
    )
    install_strategies(settings.strategy_path)
    health = WorkerHealth(settings)
    try:
        async with health_endpoint(settings.engine_health_port, health):
            await asyncio.gather(simulations.start(), asyncio.to_thread(warm_up_robustness))
            async with worker_runtime(settings, stopping) as runtime:
                health.connection = runtime.connection
                backtests = BacktestWorker(runtime.pool, simulations)
                planner = OptimizationPlanner(runtime.pool)
                chunks = ChunkWorker(runtime.pool, simulations)
                # One channel each, so each has its own prefetch. Backtests: two per pool
                # process, so one's loading and storing overlaps another's simulation. Chunks:
                # one per pool process and one more, waiting in the pool's queue so that it
                # starts the moment a chunk ends (while that one's results are written); the
                # rest of an optimization stays queued for other workers.
                processes = settings.engine_processes
                health.consumers = [
                    await _consume(
                        runtime, RunBacktest, backtests.handle, backtests.give_up, 2 * processes
                    ),
                    await _consume(runtime, StartOptimization, planner.handle, planner.give_up, 1),
                    await _consume(
                        runtime, RunOptimizationChunk, chunks.handle, chunks.give_up, processes + 1
                    ),
                ]
                log.info("engine started", extra={"processes": settings.engine_processes})
                await stopping.wait()
                log.info("engine stopping")
                for consumer in health.consumers:
                    await consumer.stop()
    finally:
        simulations.shutdown()


async def _consume(
    runtime: WorkerRuntime,
    model: type[M],
    handler: Handler[M],
    give_up: GiveUp[M],
    prefetch: int,
) -> Consumer[M]:
    """Consume `model`'s queue on a channel of its own (so with its own prefetch)."""
    channel = await runtime.connection.channel()
    queue = runtime.topology.queue_for(model)
    return await consume(
        channel, queue, model, handler, give_up, runtime.publisher, prefetch=prefetch
    )
