"""The transactional outbox: a job and the message announcing it commit together, and a relay
publishes pending messages with confirms. Several relays may run; each row goes out at least once.
"""

import asyncio
import logging

import asyncpg

from shared.amqp import Publisher
from shared.messages import Message

log = logging.getLogger(__name__)


async def add_to_outbox(conn: asyncpg.Connection, message: Message) -> None:
    """Record a command to publish; call inside the transaction that creates its job."""
    await conn.execute(
        "INSERT INTO outbox (message_id, message_type, body) VALUES ($1, $2, $3::text::jsonb)",
        message.id,
        message.type,
        message.model_dump_json(),
    )


async def relay_pending(pool: asyncpg.Pool, publisher: Publisher, *, batch: int = 100) -> int:
    """Publish up to `batch` pending messages; returns how many went out."""
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            """SELECT id, message_id, message_type, body::text AS body FROM outbox
               WHERE published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED""",
            batch,
        )
        for row in rows:
            await publisher.send_raw(row["message_type"], str(row["message_id"]), row["body"].encode())
        if rows:
            await conn.execute(
                "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])",
                [row["id"] for row in rows],
            )
    return len(rows)


async def run_relay(
    pool: asyncpg.Pool, publisher: Publisher, *, idle_seconds: float = 0.2
) -> None:
    """Relay forever; a broker or database outage only delays publication."""
    while True:
        try:
            sent = await relay_pending(pool, publisher)
        except (OSError, asyncpg.PostgresError, ConnectionError) as exc:
            log.warning("outbox relay waiting", extra={"error": str(exc)})
            sent = 0
        except Exception:
            log.exception("outbox relay error")
            sent = 0
        if not sent:
            await asyncio.sleep(idle_seconds)
