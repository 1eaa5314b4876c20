"""The ingest process: backfill jobs from the queue, live streams, the outbox relay, SIGTERM."""

import asyncio
import contextlib
import logging

import aiohttp

from services.ingest.backfill_worker import BackfillWorker
from services.ingest.bybit_rest import BybitRestClient
from services.ingest.live_streams import LiveStreams
from services.ingest.request_pacing import RequestPacer
from shared.amqp import Publisher, Topology, connect, consume
from shared.db import create_pool
from shared.messages import RunBackfill
from shared.migrate import migrate
from shared.outbox import run_relay
from shared.settings import Settings

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
    await migrate(settings.database_url)
    pool = await create_pool(settings.database_url)
    connection = await connect(settings.amqp_url)
    topology = Topology(settings.amqp_prefix)
    try:
        publish_channel = await connection.channel()
        await topology.declare(publish_channel)
        publisher = await Publisher.open(publish_channel, topology)
        consume_channel = await connection.channel()
        async with aiohttp.ClientSession(timeout=_REQUEST_TIMEOUT) as session:
            client = rest_client(settings, session)
            worker = BackfillWorker(pool, client, publisher, settings, stopping)
            background = [asyncio.create_task(run_relay(pool, publisher))]
            if settings.streams():
                streams = LiveStreams(
                    settings.streams(), settings.bybit_ws_url, session, pool, client
                )
                background.append(asyncio.create_task(streams.run()))
            stop_consuming = await consume(
                consume_channel,
                topology.queue_for(RunBackfill),
                RunBackfill,
                worker.handle,
                worker.give_up,
            )
            log.info("ingest started", extra={"streams": settings.ingest_streams})
            await stopping.wait()
            log.info("ingest stopping")
            await stop_consuming()
            for task in background:
                task.cancel()
            for task in background:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    finally:
        await connection.close()
        await pool.close()
