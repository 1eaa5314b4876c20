"""The transactional outbox: a job and the message announcing it commit together, and a relay
publishes pending messages with confirms. Several relays may run; each row goes out at least once.
Published rows are kept a week (to see what went out), then the relay deletes them.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from uuid import UUID

import asyncpg

from shared.amqp import Publisher
from shared.db import STATEMENT_TIMEOUT_SECONDS, DbConnection, DbExecutor
from shared.dependencies import OUTAGE_BACKOFF
from shared.messages import EVENTS, Message

log = logging.getLogger(__name__)

KEEP_PUBLISHED_DAYS = 7
PRUNE_EVERY_SECONDS = 3600.0
# How long the relay waits for a pool connection to listen on (all busy: it polls meanwhile).
_LISTEN_TIMEOUT_SECONDS = 1.0


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


async def add_all_to_outbox(conn: DbConnection, messages: Sequence[Message]) -> None:
    """`add_to_outbox` of each message, in one round trip to the database."""
    if messages:
        await conn.executemany(outbox_insert(1), [outbox_values(m) for m in messages])


async def relay_pending(pool: asyncpg.Pool, publisher: Publisher, *, batch: int = 100) -> int:
    """Publish up to `batch` pending messages; returns how many went out."""
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            """SELECT id, message_id, exchange, message_type, body::text AS body FROM outbox
               WHERE published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED""",
            batch,
        )
        # Published together, their confirms awaited together: one round trip per batch.
        sent = await asyncio.gather(
            *(
                publisher.send_raw(
                    row["exchange"],
                    row["message_type"],
                    str(row["message_id"]),
                    row["body"].encode(),
                )
                for row in rows
            ),
            return_exceptions=True,
        )
        failure = next((outcome for outcome in sent if isinstance(outcome, BaseException)), None)
        if failure is not None:
            raise failure
        if rows:
            await conn.execute(
                "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])",
                [row["id"] for row in rows],
            )
    return len(rows)


async def unpublished_count(db: DbExecutor) -> int:
    """Messages written but not yet published: the relay's backlog."""
    return int(await db.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"))


async def delete_old_published(db: DbExecutor) -> int:
    """Delete rows published more than a week ago; returns how many. Housekeeping, so the
    workers' statement bound, not a request's (the API's pool has a short one)."""
    deleted = await db.execute(
        f"""DELETE FROM outbox WHERE published_at IS NOT NULL
            AND published_at < now() - interval '{KEEP_PUBLISHED_DAYS} days'""",
        timeout=STATEMENT_TIMEOUT_SECONDS,
    )
    return int(deleted.split()[-1])


async def run_relay(
    pool: asyncpg.Pool,
    publisher: Publisher,
    *,
    ready: Callable[[], bool] = lambda: True,
    idle_seconds: float = 0.1,
    prune_every: float = PRUNE_EVERY_SECONDS,
) -> None:
    """Relay forever, pruning old published rows at start and every `prune_every` seconds;
    a broker or database outage only delays publication. Idle, it polls every
    `idle_seconds`, and wakes at once when rows are committed (`PendingRows`)."""
    pruned_at: float | None = None
    failures = 0
    async with PendingRows(pool) as pending:
        while True:
            if pruned_at is None or time.monotonic() - pruned_at >= prune_every:
                pruned_at = time.monotonic()
                try:
                    deleted = await delete_old_published(pool)
                    if deleted:
                        log.info("outbox pruned", extra={"deleted": deleted})
                except Exception as exc:  # database away: try again next time
                    log.warning(
                        "outbox pruning failed", extra={"error": f"{type(exc).__name__}: {exc}"}
                    )
            if not ready():
                await asyncio.sleep(idle_seconds)
                continue
            pending.seen()
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
                await pending.committed(idle_seconds)


class PendingRows:
    """The outbox's notifications (its trigger's, as a transaction that added rows commits)
    on a pool connection held while the relay runs; without one (the database away), the
    relay just polls, and the next wait listens again."""

    CHANNEL = "outbox_pending"

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._connection: asyncpg.pool.PoolConnectionProxy | None = None
        self._notified = asyncio.Event()

    async def __aenter__(self) -> "PendingRows":
        await self._listen()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._let_go()

    def seen(self) -> None:
        """Called before looking for rows: a notification from now on means more."""
        self._notified.clear()

    async def committed(self, seconds: float) -> None:
        """Until rows are committed after the last `seen`, or `seconds` pass."""
        if not self._listening():
            await self._let_go()
            await self._listen()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._notified.wait(), seconds)

    def _listening(self) -> bool:
        try:
            return self._connection is not None and not self._connection.is_closed()
        except asyncpg.InterfaceError:  # the pool took back its broken connection
            return False

    async def _listen(self) -> None:
        try:
            self._connection = await self._pool.acquire(timeout=_LISTEN_TIMEOUT_SECONDS)
        except Exception:  # the database away, or every connection busy: poll for now
            return
        try:
            await self._connection.add_listener(self.CHANNEL, self._wake)
        except BaseException as exc:
            await self._let_go()
            if not isinstance(exc, Exception):  # cancelled: the connection is back first
                raise

    async def _let_go(self) -> None:
        """The connection back to the pool, even if this task is cancelled meanwhile (the
        pool's close waits for every connection)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            await asyncio.shield(self._release(connection))

    async def _release(self, connection: asyncpg.pool.PoolConnectionProxy) -> None:
        with contextlib.suppress(Exception):
            await connection.remove_listener(self.CHANNEL, self._wake)
        with contextlib.suppress(Exception):
            await self._pool.release(connection)

    def _wake(self, *_: object) -> None:
        self._notified.set()
