"""Telling a server's absence from a job's own failure, and the backoff between retries."""

import asyncio

import aio_pika
import asyncpg
import pytest

from shared.dependencies import Backoff, ServerStalled, unreachable_server, within


async def _raised(call) -> BaseException:
    with pytest.raises(BaseException) as caught:
        await call()
    return caught.value


async def test_refused_connections_name_their_server() -> None:
    refused_pg = await _raised(lambda: asyncpg.connect("postgresql://postgres@127.0.0.1:1/x"))
    assert isinstance(refused_pg, OSError) and unreachable_server(refused_pg) == "postgres"
    refused_mq = await _raised(lambda: aio_pika.connect("amqp://guest:guest@127.0.0.1:1/"))
    assert unreachable_server(refused_mq) == "rabbitmq"


async def test_lost_connections_name_their_server() -> None:
    assert unreachable_server(asyncpg.ConnectionDoesNotExistError("lost")) == "postgres"
    assert unreachable_server(asyncpg.CannotConnectNowError("starting up")) == "postgres"
    released = asyncpg.InterfaceError(
        "cannot call Connection.fetch(): connection has been released back to the pool"
    )
    assert unreachable_server(released) == "postgres"
    try:
        raise RuntimeError("storing failed") from asyncpg.ConnectionDoesNotExistError("lost")
    except RuntimeError as wrapped:
        assert unreachable_server(wrapped) == "postgres"


async def test_the_same_types_raised_by_the_work_itself_are_its_own() -> None:
    missing_file = await _raised(lambda: asyncio.to_thread(open, "/nonexistent/strategy.py"))
    assert isinstance(missing_file, OSError) and unreachable_server(missing_file) is None
    own_timeout = await _raised(lambda: asyncio.wait_for(asyncio.sleep(1), 0.01))
    assert isinstance(own_timeout, TimeoutError) and unreachable_server(own_timeout) is None
    assert unreachable_server(asyncpg.UniqueViolationError("duplicate")) is None
    assert unreachable_server(asyncpg.InterfaceError("another operation is in progress")) is None
    assert unreachable_server(ZeroDivisionError()) is None


def test_backoff_doubles_up_to_its_cap() -> None:
    backoff = Backoff(first=0.5, cap=5.0)
    assert [backoff.delay(n) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    assert backoff.delay(10_000) == 5.0


async def test_a_call_past_its_deadline_is_a_stalled_server_and_ends_in_the_background() -> None:
    ended = asyncio.Event()

    async def stalls() -> int:
        try:
            await asyncio.sleep(60)
        finally:
            ended.set()
        return 1

    stalled = await _raised(lambda: within(0.05, "postgres", stalls))
    assert isinstance(stalled, ServerStalled) and unreachable_server(stalled) == "postgres"
    await asyncio.wait_for(ended.wait(), 5)  # cancelled, not left running


async def test_a_call_within_its_deadline_gives_its_result_or_its_own_error() -> None:
    async def answers() -> int:
        return 7

    async def fails() -> int:
        raise ValueError("its own")

    assert await within(5, "rabbitmq", answers) == 7
    own = await _raised(lambda: within(5, "rabbitmq", fails))
    assert isinstance(own, ValueError) and unreachable_server(own) is None
