"""The ingest process: backfill jobs from the queue, live streams, the outbox relay, SIGTERM."""

import asyncio
import contextlib
import logging

import aiohttp

from services.ingest.backfill_worker import BackfillWorker
from services.ingest.bybit_rest import BybitRestClient
from services.ingest.live_streams import LiveStreams
from services.ingest.request_pacing import RequestPacer
from shared.amqp import consume
from shared.messages import RunBackfill
from shared.settings import Settings
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
    async with (
        worker_runtime(settings) as runtime,
        aiohttp.ClientSession(timeout=_REQUEST_TIMEOUT) as session,
    ):
        client = rest_client(settings, session)
        worker = BackfillWorker(runtime.pool, client, runtime.publisher, settings, stopping)
        streams = None
        if settings.streams():
            live = LiveStreams(
                settings.streams(), settings.bybit_ws_url, session, runtime.pool, client
            )
            streams = asyncio.create_task(live.run())
        stop_consuming = await consume(
            await runtime.connection.channel(),
            runtime.topology.queue_for(RunBackfill),
            RunBackfill,
            worker.handle,
            worker.give_up,
        )
        log.info("ingest started", extra={"streams": settings.ingest_streams})
        await stopping.wait()
        log.info("ingest stopping")
        await stop_consuming()
        if streams is not None:
            streams.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await streams
