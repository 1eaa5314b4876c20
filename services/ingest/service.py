"""The ingest process: backfill jobs from the queue, live streams, the outbox relay, SIGTERM."""

import asyncio
import contextlib
import logging

import aiohttp

from services.ingest.backfill_worker import BackfillWorker
from services.ingest.bybit_rest import BybitRestClient
from services.ingest.live_streams import LiveStreams
from services.ingest.request_pacing import RequestPacer
from shared.consumer import consume
from shared.messages import RunBackfill
from shared.settings import Settings
from shared.worker_health import WorkerHealth, health_endpoint
from shared.worker_runtime import worker_runtime

log = logging.getLogger(__name__)

_REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=30, sock_connect=10)


def rest_client(settings: Settings, session: aiohttp.ClientSession) -> BybitRestClient:
    return BybitRestClient(
        session,
        settings.bybit_rest_url,
        RequestPacer(settings.ingest_requests_per_second),
        max_retries=settings.ingest_max_retries,
        ban_pause_seconds=settings.ingest_ban_pause_seconds,
    )


async def run_ingest(settings: Settings, stopping: asyncio.Event) -> None:
    """Serve until `stopping` is set; then stop taking jobs, commit the current one, close."""
    health = WorkerHealth(settings)
    async with (
        health_endpoint(settings.ingest_health_port, health),
        worker_runtime(settings, stopping) as runtime,
        aiohttp.ClientSession(timeout=_REQUEST_TIMEOUT) as session,
    ):
        health.connection = runtime.connection
        client = rest_client(settings, session)
        worker = BackfillWorker(runtime.pool, client, runtime.publisher, settings, stopping)
        streams = None
        if settings.streams():
            live = LiveStreams(
                settings.streams(), settings.bybit_ws_url, session, runtime.pool, client
            )
            streams = asyncio.create_task(live.run())
        backfills = await consume(
            await runtime.connection.channel(),
            runtime.topology.queue_for(RunBackfill),
            RunBackfill,
            worker.handle,
            worker.give_up,
            runtime.publisher,
        )
        health.consumers = [backfills]
        log.info("ingest started", extra={"streams": settings.ingest_streams})
        await stopping.wait()
        log.info("ingest stopping")
        await backfills.stop()
        if streams is not None:
            streams.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await streams
