"""Services in processes of their own, configured from a test's Settings."""

import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator

from shared.settings import Settings


def settings_env(settings: Settings) -> dict[str, str]:
    return {name.upper(): str(value) for name, value in settings.model_dump().items()}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def service_process(
    module: str, settings: Settings, *args: str
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`python -m <module>`; killed at the end if still running."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        *args,
        env={**os.environ, **settings_env(settings)},
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
