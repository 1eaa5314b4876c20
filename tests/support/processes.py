"""Services in processes of their own, configured from a test's Settings."""

import asyncio
from contextlib import AbstractAsyncContextManager
from pathlib import Path

from devtools.launcher import child_process
from shared.settings import Settings


def service_process(
    module: str, settings: Settings, *args: str, log: Path | None = None
) -> AbstractAsyncContextManager[asyncio.subprocess.Process]:
    """`python -m <module>`, its output in `log` (or discarded); killed at the end if still
    running (a test stops it itself when the way it stops is what the test checks)."""
    return child_process(module, settings.environment(), *args, log=log, grace=0)
