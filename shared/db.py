"""asyncpg pools, and creating the database itself on a fresh machine."""

import asyncio
import contextlib
import itertools
import json
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import asyncpg.pool

from shared.json_numbers import loads_stored


class SharedReads:
    """Reads through a pool where identical ones asked for at the same moment share one query:
    a read asked for while the same statement with the same arguments runs waits for that
    one's answer instead of querying again (as current as its own query would have been, but
    for the time that one had already run). For checks that only read, made for many requests
    at once (the API's job submissions, by POST or over AMQP); writes go straight to the pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._running: dict[Hashable, asyncio.Future[Any]] = {}

    async def fetch(self, query: str, *args: Any, **options: Any) -> Any:
        return await self._shared(self._pool.fetch, query, args, options)

    async def fetchrow(self, query: str, *args: Any, **options: Any) -> Any:
        return await self._shared(self._pool.fetchrow, query, args, options)

    async def fetchval(self, query: str, *args: Any, **options: Any) -> Any:
        return await self._shared(self._pool.fetchval, query, args, options)

    async def execute(self, query: str, *args: Any, **options: Any) -> str:
        result: str = await self._pool.execute(query, *args, **options)
        return result

    async def _shared(
        self, read: Any, query: str, args: tuple[Any, ...], options: dict[str, Any]
    ) -> Any:
        key = (read.__name__, query, args, tuple(options.items()))
        try:
            running = self._running.get(key)
        except TypeError:  # an argument that cannot be told equal cheaply (a list): its own query
            return await read(query, *args, **options)
        if running is None:
            running = asyncio.ensure_future(read(query, *args, **options))
            self._running[key] = running
            running.add_done_callback(lambda done: self._finished(key, done))
        # One reader giving up (cancelled) leaves the query to the others.
        return await asyncio.shield(running)

    def _finished(self, key: Hashable, done: asyncio.Future[Any]) -> None:
        if self._running.get(key) is done:
            del self._running[key]
        if not done.cancelled():
            done.exception()  # retrieved: every reader may have given up


# A connection of its own or one lent by a pool: repositories take either, and readers take
# shared reads too.
DbConnection = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy
DbExecutor = DbConnection | asyncpg.Pool | SharedReads


@dataclass(frozen=True)
class Statement:
    """A write and its arguments, to run by itself or with others of the same SQL."""

    sql: str
    args: tuple[Any, ...]

    async def run(self, db: DbExecutor) -> None:
        await db.execute(self.sql, *self.args)


async def run_all(conn: DbConnection, statements: Sequence[Statement]) -> None:
    """Run `statements` in their order, each run of one SQL text in one round trip."""
    for sql, run in itertools.groupby(statements, key=lambda statement: statement.sql):
        args = [statement.args for statement in run]
        if len(args) == 1:
            await conn.execute(sql, *args[0])
        else:
            await conn.executemany(sql, args)


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec(
        "jsonb", encoder=json.dumps, decoder=loads_stored, schema="pg_catalog"
    )
    # json keeps an object's keys in their order (an optimization's param_grid).
    await conn.set_type_codec("json", encoder=json.dumps, decoder=loads_stored, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Nothing to reset: the platform keeps no session state on pooled connections, and
    asyncpg's default reset costs a round trip on every release."""


# A server that stops answering fails the connection or statement after these, instead of
# holding it (and the job it serves) forever; the failure is then retried as an outage.
CONNECT_TIMEOUT_SECONDS = 10.0
STATEMENT_TIMEOUT_SECONDS = 300.0


async def create_pool(
    dsn: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    statement_timeout: float = STATEMENT_TIMEOUT_SECONDS,
    connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_keep_session,
        timeout=connect_timeout,
        command_timeout=statement_timeout,
    )
    assert pool is not None
    return pool


def database_name(dsn: str) -> str:
    return urlsplit(dsn).path.lstrip("/") or "postgres"


def with_database(dsn: str, name: str) -> str:
    """The same server and credentials, another database."""
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def ensure_database(dsn: str) -> None:
    """Create the DSN's database if it does not exist yet (needs a role allowed to create one)."""
    name = database_name(dsn)
    admin = await asyncpg.connect(with_database(dsn, "postgres"))
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            # Another process may create it at the same moment.
            with contextlib.suppress(asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
                await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
