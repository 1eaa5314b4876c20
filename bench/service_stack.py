"""The platform's services for a benchmark: scratch database and broker names, the API and
engine workers, each started as `python -m ...` in a process of its own."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bench.child_processes import child_process, wait_until_serving
from bench.scratch import scratch_database, scratch_prefix
from devtools.launcher import free_port
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
    async with (
        aiohttp.ClientSession() as http,
        child_process(module, env, log_path) as proc,
    ):
        await wait_until_serving(http, f"{url}/api/v1/readyz", proc, log_path)
        yield RunningApi(url, proc.pid)


@contextlib.asynccontextmanager
async def running_engines(
    settings: Settings, count: int, logs: Path
) -> AsyncIterator[list[asyncio.subprocess.Process]]:
    """`count` engine workers (`python -m services.engine`), stopped with SIGTERM after."""
    env = settings.environment()
    async with contextlib.AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(
                child_process("services.engine", env, logs / f"engine-{i}.log")
            )
            for i in range(count)
        ]
