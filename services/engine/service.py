"""The engine process: backtest jobs from the queue, simulations in a process pool, SIGTERM."""

import asyncio
import logging
from concurrent.futures import ProcessPoolExecutor

from aiohttp import web

from services.engine.backtest_runner import warm_up
from services.engine.backtest_worker import BacktestWorker
from shared.amqp import consume
from shared.messages import RunBacktest
from shared.settings import Settings
from shared.worker_runtime import worker_runtime

log = logging.getLogger(__name__)


async def run_engine(settings: Settings, stopping: asyncio.Event) -> None:
    """Serve until `stopping` is set; then take no more jobs, finish those in hand, close."""
    executor = ProcessPoolExecutor(max_workers=settings.engine_processes, initializer=warm_up)
    health = await _health_server(settings.engine_health_port)
    try:
        async with worker_runtime(settings) as runtime:
            worker = BacktestWorker(runtime.pool, executor)
            stop_backtests = await consume(
                await runtime.connection.channel(),
                runtime.topology.queue_for(RunBacktest),
                RunBacktest,
                worker.handle,
                worker.give_up,
                prefetch=settings.engine_processes,
            )
            log.info("engine started", extra={"processes": settings.engine_processes})
            await stopping.wait()
            log.info("engine stopping")
            await stop_backtests()
    finally:
        if health is not None:
            await health.cleanup()
        executor.shutdown(cancel_futures=True)


async def _health_server(port: int) -> web.AppRunner | None:
    if not port:
        return None

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "0.0.0.0", port).start()
    return runner
