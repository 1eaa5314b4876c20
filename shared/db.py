"""asyncpg pools, and creating the database itself on a fresh machine."""

import contextlib
import json
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import asyncpg.pool

from shared.json_numbers import loads_stored

# A connection of its own or one lent by a pool: repositories take either.
DbConnection = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy
DbExecutor = DbConnection | asyncpg.Pool


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
