"""Consuming RunBackfill commands: claim, run, settle; hand the job back on shutdown."""

import asyncio
import logging
from dataclasses import dataclass

import asyncpg

from services.ingest import backfill_progress
from services.ingest.backfill import run_backfill
from services.ingest.backfill_progress import Cancelled, LostClaim
from services.ingest.bybit_rest import BybitRejected, BybitRestClient
from shared.amqp import Publisher
from shared.messages import RunBackfill
from shared.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class BackfillWorker:
    pool: asyncpg.Pool
    client: BybitRestClient
    publisher: Publisher
    settings: Settings
    stopping: asyncio.Event

    async def handle(self, command: RunBackfill) -> None:
        job = await backfill_progress.claim(self.pool, command.backfill_id)
        if job is None:
            log.info("backfill already settled", extra={"backfill_id": str(command.backfill_id)})
            return
        try:
            finished = await run_backfill(
                self.pool,
                self.client,
                job,
                pages_in_flight=self.settings.ingest_pages_in_flight,
                pages_per_commit=self.settings.ingest_pages_per_commit,
                stopping=self.stopping,
            )
        except BybitRejected as exc:
            await backfill_progress.fail(self.pool, job.id, str(exc))
            return
        except LostClaim:
            log.warning("backfill taken over by another worker", extra={"backfill_id": str(job.id)})
            return
        except Cancelled as exc:
            log.info("backfill stopped", extra={"backfill_id": str(job.id), "reason": str(exc)})
            return
        if finished:
            await backfill_progress.succeed(self.pool, job.id)
        else:
            # Shutting down: a fresh command resumes it from the committed cursor elsewhere,
            # without spending one of the message's limited deliveries.
            await self.publisher.send_command(RunBackfill(backfill_id=job.id))

    async def give_up(self, command: RunBackfill, error: str) -> None:
        await backfill_progress.fail(self.pool, command.backfill_id, error)
