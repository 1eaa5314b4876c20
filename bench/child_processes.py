"""Services started as `python -m ...`, each in a process of its own, as they are deployed."""

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp

_STOP_GRACE_SECONDS = 30.0


@contextlib.asynccontextmanager
async def child_process(
    module: str, env: Mapping[str, str], log_path: Path
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`python -m module` with extra environment; stopped with SIGTERM (then SIGKILL) at exit."""
    with log_path.open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            module,
            env={**os.environ, **env},
            stdout=log,
            stderr=log,
        )
        try:
            yield proc
        finally:
            await _stop(proc)


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), _STOP_GRACE_SECONDS)
    except TimeoutError:
        proc.kill()
        await proc.wait()


def sim_env(**values: object) -> dict[str, str]:
    """`BYBIT_SIM_*` variables; booleans as true/false, sequences comma separated."""
    env = {}
    for name, value in values.items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, list | tuple):
            text = ",".join(str(item) for item in value)
        else:
            text = str(value)
        env[f"BYBIT_SIM_{name.upper()}"] = text
    return env


async def wait_until_serving(
    session: aiohttp.ClientSession,
    url: str,
    proc: asyncio.subprocess.Process,
    log_path: Path,
    *,
    within: float = 30.0,
) -> None:
    """Poll `url` until it answers 200; fail early if the process died."""
    deadline = time.monotonic() + within
    while True:
        if proc.returncode is not None:
            raise RuntimeError(f"{url} server exited ({proc.returncode}): {tail(log_path)}")
        with contextlib.suppress(aiohttp.ClientError):
            async with session.get(url) as resp:
                if resp.status == 200:
                    return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} not serving after {within} s: {tail(log_path)}")
        await asyncio.sleep(0.1)


async def get_json(session: aiohttp.ClientSession, url: str) -> Any:
    async with session.get(url) as resp:
        resp.raise_for_status()
        return await resp.json()


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return ""
