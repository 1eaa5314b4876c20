"""The transactional outbox: a job and the message announcing it commit together, and a relay
publishes pending messages with confirms. Several relays may run; each row goes out at least once.
"""

import asyncio
import logging
from collections.abc import Callable
from uuid import UUID

import asyncpg

from shared.amqp import Publisher
from shared.db import DbConnection
from shared.dependencies import OUTAGE_BACKOFF
from shared.messages import EVENTS, Message

log = logging.getLogger(__name__)


def outbox_insert(first_param: int) -> str:
    """SQL inserting one outbox row from parameters $first_param.. (see `outbox_values`), for
    callers that write it in the same statement as their job."""
    n = first_param
    return f"""INSERT INTO outbox (message_id, exchange, message_type, body)
               VALUES (${n}, ${n + 1}, ${n + 2}, ${n + 3}::text::jsonb)"""


def outbox_values(message: Message) -> tuple[UUID, str, str, str]:
    exchange = "events" if isinstance(message, EVENTS) else "commands"
    return message.id, exchange, message.type, message.model_dump_json()


async def add_to_outbox(conn: DbConnection, message: Message) -> None:
    """Record a message to publish; call inside the transaction that makes it true."""
    await conn.execute(outbox_insert(1), *outbox_values(message))


async def relay_pending(pool: asyncpg.Pool, publisher: Publisher, *, batch: int = 100) -> int:
    """Publish up to `batch` pending messages; returns how many went out."""
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            """SELECT id, message_id, exchange, message_type, body::text AS body FROM outbox
               WHERE published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED""",
            batch,
        )
        for row in rows:
            await publisher.send_raw(
                row["exchange"], row["message_type"], str(row["message_id"]), row["body"].encode()
            )
        if rows:
            await conn.execute(
                "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])",
                [row["id"] for row in rows],
            )
    return len(rows)


async def run_relay(
    pool: asyncpg.Pool,
    publisher: Publisher,
    *,
    ready: Callable[[], bool] = lambda: True,
    idle_seconds: float = 0.1,
) -> None:
    """Relay forever; a broker or database outage only delays publication."""
    failures = 0
    while True:
        if not ready():
            await asyncio.sleep(idle_seconds)
            continue
        try:
            sent = await relay_pending(pool, publisher)
            failures = 0
        except Exception as exc:  # broker or database away: retry after a growing pause
            pause = OUTAGE_BACKOFF.delay(failures)
            failures += 1
            log.warning(
                "outbox relay waiting",
                extra={"error": f"{type(exc).__name__}: {exc}", "retry_in_s": pause},
            )
            await asyncio.sleep(pause)
            continue
        if not sent:
            await asyncio.sleep(idle_seconds)
