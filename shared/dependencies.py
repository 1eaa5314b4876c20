"""PostgreSQL and RabbitMQ being away: which server a failure points at, backoff, waiting for a
server at start-up, and probing a server with a deadline.

A failure is a dependency's, not the work's own, when it is a lost or refused connection, a
server that is starting or shutting down, or an OSError or timeout raised inside the server's
client library. Such failures are retried and never count against a message's delivery limit.
"""

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, TypeVar

import aio_pika
import aiormq.exceptions
import asyncpg

log = logging.getLogger(__name__)

T = TypeVar("T")

Server = Literal["postgres", "rabbitmq"]

_CLIENT_PACKAGES: dict[str, Server] = {
    "asyncpg": "postgres",
    "aiormq": "rabbitmq",
    "aio_pika": "rabbitmq",
    "pamqp": "rabbitmq",
}
# Postgres errors that say the server (not the statement) is the problem: connection lost or
# refused (class 08), starting up or shutting down (57P01-57P03), out of connections (53300).
_POSTGRES_AWAY = (
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
)
# asyncpg's own words for a connection it lost; a connection lent by the pool and lost is
# detached from its borrower ("released back to the pool").
_LOST_CONNECTION_SYMPTOMS = ("closed", "closing", "released back to the pool")
_RABBITMQ_AWAY = (aiormq.exceptions.AMQPConnectionError, aiormq.exceptions.ChannelInvalidStateError)


class ServerStalled(Exception):
    """A server did not answer a call within its deadline: it counts as away."""

    def __init__(self, server: Server, seconds: float) -> None:
        super().__init__(f"{server}: no answer within {seconds:g} s")
        self.server: Server = server


def unreachable_server(exc: BaseException) -> Server | None:
    """The server whose absence caused `exc`, or None if the failure is the work's own."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        server = _server_of(current)
        if server is not None:
            return server
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    return None


def _server_of(exc: BaseException) -> Server | None:
    if isinstance(exc, ServerStalled):
        return exc.server
    if isinstance(exc, _POSTGRES_AWAY):
        return "postgres"
    if isinstance(exc, asyncpg.InterfaceError) and any(
        symptom in str(exc) for symptom in _LOST_CONNECTION_SYMPTOMS
    ):
        return "postgres"
    if isinstance(exc, _RABBITMQ_AWAY):
        return "rabbitmq"
    if isinstance(exc, OSError | TimeoutError):
        # The same types come from anywhere (a plugin reading a file, a job's own timeout):
        # only those raised inside a server's client say the server is away.
        return _raised_in_client(exc.__traceback__)
    return None


def _raised_in_client(tb: TracebackType | None) -> Server | None:
    while tb is not None:
        module = str(tb.tb_frame.f_globals.get("__name__", ""))
        server = _CLIENT_PACKAGES.get(module.partition(".")[0])
        if server is not None:
            return server
        tb = tb.tb_next
    return None


@dataclass(frozen=True)
class Backoff:
    """Exponential delays: `first`, doubling, at most `cap` seconds."""

    first: float
    cap: float

    def delay(self, attempt: int) -> float:
        """The pause after failed attempt number `attempt` (0 for the first)."""
        return float(min(self.cap, self.first * 2 ** min(attempt, 32)))


# Reconnecting: soon after a server is back, without hammering one that is not.
OUTAGE_BACKOFF = Backoff(first=0.5, cap=5.0)


class StoppedWhileWaiting(Exception):
    """The service was asked to stop while it still waited for a server."""


async def sleep_unless(stopping: asyncio.Event | None, seconds: float) -> bool:
    """Sleep `seconds`, or less if `stopping` is set meanwhile; True if it was set."""
    if stopping is None:
        await asyncio.sleep(seconds)
        return False
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), seconds)
    return stopping.is_set()


async def wait_for(
    server: Server,
    attempt: Callable[[], Awaitable[T]],
    *,
    stopping: asyncio.Event | None = None,
    backoff: Backoff = OUTAGE_BACKOFF,
) -> T:
    """`attempt()` retried with backoff for as long as it fails because a server is away."""
    for n in itertools.count():
        try:
            return await attempt()
        except Exception as exc:
            away = unreachable_server(exc)
            if away is None:
                raise
            delay = backoff.delay(n)
            log.warning(
                f"waiting for {away}",
                extra={
                    "for": server,
                    "server": away,
                    "error": f"{type(exc).__name__}: {exc}",
                    "retry_in_s": delay,
                },
            )
        if await sleep_unless(stopping, delay):
            raise StoppedWhileWaiting(server)
    raise AssertionError("unreachable")


# Calls that stall are cancelled and left to end in the background: awaiting a cancelled
# client call on a stalled connection could take as long as the stall.
_abandoned: set[asyncio.Task[Any]] = set()


async def within(seconds: float, server: Server, call: Callable[[], Awaitable[T]]) -> T:
    """`call()`'s result, or ServerStalled once `server` has not answered for `seconds`."""
    task = asyncio.ensure_future(call())
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if not done:
        task.cancel()
        _abandoned.add(task)
        task.add_done_callback(_forget)
        raise ServerStalled(server, seconds)
    return task.result()


def _forget(task: asyncio.Task[Any]) -> None:
    _abandoned.discard(task)
    if not task.cancelled():
        task.exception()


async def answers(server: Server, probe: Callable[[], Awaitable[object]], seconds: float) -> bool:
    """Whether `probe()` completes without error within `seconds`."""
    try:
        await within(seconds, server, probe)
    except Exception:
        return False
    return True


async def postgres_answers(database_url: str, within: float) -> bool:
    async def select_one() -> None:
        conn = await asyncpg.connect(database_url, timeout=within)
        try:
            await conn.fetchval("SELECT 1")
        finally:
            conn.terminate()

    return await answers("postgres", select_one, within)


async def rabbitmq_answers(amqp_url: str, within: float) -> bool:
    async def open_and_close() -> None:
        connection = await aio_pika.connect(amqp_url, timeout=within)
        await connection.close()

    return await answers("rabbitmq", open_and_close, within)


async def servers_down(database_url: str, amqp_url: str, within: float) -> list[Server]:
    """The servers that do not answer a fresh connection within `within` seconds."""
    postgres, rabbitmq = await asyncio.gather(
        postgres_answers(database_url, within), rabbitmq_answers(amqp_url, within)
    )
    down: list[Server] = []
    if not postgres:
        down.append("postgres")
    if not rabbitmq:
        down.append("rabbitmq")
    return down
