"""The engine process: backtest and optimization jobs from the queue, simulations in a process
pool, SIGTERM."""

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor

from services.engine.backtests.consumer import BacktestWorker
from services.engine.backtests.in_pool import warm_up
from services.engine.optimization.chunk_consumer import ChunkWorker
from services.engine.optimization.planner import OptimizationPlanner
from shared.consumer import Consumer, GiveUp, Handler, M, consume
from shared.messages import RunBacktest, RunOptimizationChunk, StartOptimization
from shared.settings import Settings
from shared.strategies import install_strategies
from shared.worker_health import WorkerHealth, health_endpoint
from shared.worker_runtime import WorkerRuntime, worker_runtime

log = logging.getLogger(__name__)


async def run_engine(settings: Settings, stopping: asyncio.Event) -> None:
    """Serve until `stopping` is set; then take no more jobs, finish those in hand, close."""
    # Spawned, not forked: a forked pool process would inherit the broker connection's socket
    # and keep it open after this process is killed, so its unacknowledged jobs would not be
    # redelivered until the broker's heartbeat timeout.
    executor = ProcessPoolExecutor(
        max_workers=settings.engine_processes,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_pool_process,
        initargs=(os.getpid(), settings.strategy_path),
    )
    install_strategies(settings.strategy_path)
    health = WorkerHealth(settings)
    try:
        async with health_endpoint(settings.engine_health_port, health):
            await _start_pool(executor, settings.engine_processes)
            async with worker_runtime(settings, stopping) as runtime:
                health.connection = runtime.connection
                backtests = BacktestWorker(runtime.pool, executor)
                planner = OptimizationPlanner(runtime.pool)
                chunks = ChunkWorker(runtime.pool, executor)
                # One channel each, so each has its own prefetch. Backtests: two per pool
                # process, so one's loading and storing overlaps another's simulation. Chunks:
                # one per pool process, so the rest of an optimization stays queued for others.
                processes = settings.engine_processes
                health.consumers = [
                    await _consume(
                        runtime, RunBacktest, backtests.handle, backtests.give_up, 2 * processes
                    ),
                    await _consume(runtime, StartOptimization, planner.handle, planner.give_up, 1),
                    await _consume(
                        runtime, RunOptimizationChunk, chunks.handle, chunks.give_up, processes
                    ),
                ]
                log.info("engine started", extra={"processes": settings.engine_processes})
                await stopping.wait()
                log.info("engine stopping")
                for consumer in health.consumers:
                    await consumer.stop()
    finally:
        executor.shutdown(cancel_futures=True)


def _start_pool_process(parent: int, strategy_path: str) -> None:
    """In each pool process: exit when the engine process is gone (killed, it cannot say so),
    load the plugins, then compile the kernels."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
    install_strategies(strategy_path)
    warm_up()


async def _start_pool(executor: ProcessPoolExecutor, processes: int) -> None:
    """Start every pool process (and compile its kernels) before taking jobs, so the first
    jobs do not pay for it."""
    loop = asyncio.get_running_loop()
    await asyncio.gather(
        *(loop.run_in_executor(executor, time.sleep, 0.05) for _ in range(processes))
    )


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
