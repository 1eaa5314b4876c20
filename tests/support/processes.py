"""Services in processes of their own, configured from a test's Settings."""

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator

from shared.settings import Settings


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
        env={**os.environ, **settings.environment()},
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
