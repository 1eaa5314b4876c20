"""The platform's services for a benchmark: scratch database and broker names, the API and
engine workers, each started as `python -m ...` in a process of its own, and waiting until
the workers consume."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aio_pika

from bench.support.scratch import scratch_database, scratch_prefix
from devtools.launcher import child_process, free_port, wait_until_serving
from devtools.waiting import StillWaiting, poll_until
from shared.amqp import Topology
from shared.messages import Message, RunBacktest
from shared.settings import Settings


@dataclass(frozen=True)
class RunningApi:
    url: str  # http://host:port
    pid: int


@contextlib.asynccontextmanager
async def bench_settings(database: str) -> AsyncIterator[Settings]:
    """Settings from the environment, pointed at a fresh database and a unique AMQP prefix."""
    base = Settings()
    async with (
        scratch_database(base.database_url, database) as dsn,
        scratch_prefix(base.amqp_url) as prefix,
    ):
        yield base.model_copy(
            update={
                "database_url": dsn,
                "amqp_prefix": prefix,
                "log_level": "WARNING",
                "engine_processes": 1,
            }
        )


@contextlib.asynccontextmanager
async def running_api(
    settings: Settings, log_path: Path, module: str = "services.api"
) -> AsyncIterator[RunningApi]:
    """`python -m services.api` (or `module`, an experiment) on a free port, ready (PostgreSQL
    and RabbitMQ up) when yielded."""
    port = free_port()
    env = settings.model_copy(update={"api_host": "127.0.0.1", "api_port": port}).environment()
    url = f"http://127.0.0.1:{port}"
    async with child_process(module, env, log=log_path) as proc:
        await wait_until_serving(f"{url}/api/v1/readyz", proc, log_path)
        yield RunningApi(url, proc.pid)


@contextlib.asynccontextmanager
async def running_engines(
    settings: Settings,
    count: int,
    logs: Path,
    *,
    within: float = 120,
    consuming: type[Message] = RunBacktest,
) -> AsyncIterator[list[asyncio.subprocess.Process]]:
    """`count` engine workers (`python -m services.engine`), yielded once all of them consume
    `consuming`'s queue (`within` seconds at most), stopped with SIGTERM after."""
    env = settings.environment()
    async with contextlib.AsyncExitStack() as stack:
        engines = [
            await stack.enter_async_context(
                child_process("services.engine", env, log=logs / f"engine-{i}.log")
            )
            for i in range(count)
        ]
        await wait_for_consumers(
            settings.amqp_url, settings.amqp_prefix, count, within=within, command=consuming
        )
        yield engines


async def wait_for_consumers(
    amqp_url: str,
    prefix: str,
    count: int,
    *,
    within: float,
    command: type[Message] = RunBacktest,
) -> None:
    """Until `count` workers consume `command`'s queue (each has connected and declared)."""
    queue_name = Topology(prefix).queue_for(command)
    connection = await aio_pika.connect(amqp_url)

    async def consumers() -> int:
        channel = await connection.channel()
        try:
            queue = await channel.declare_queue(queue_name, passive=True)
            return queue.declaration_result.consumer_count or 0
        except aio_pika.exceptions.ChannelClosed:
            return 0  # not declared yet
        finally:
            if not channel.is_closed:
                await channel.close()

    try:
        await poll_until(consumers, lambda n: n >= count, within=within, every=0.2)
    except StillWaiting as exc:
        raise RuntimeError(f"{exc.last} of {count} engine workers consuming") from None
    finally:
        await connection.close()
