"""The one way devtools, the benchmarks and the tests start the platform's processes:
`python -m MODULE` with extra environment, as they are deployed.

Two lifetimes: `start`/`stop` run a process in the background with a log file and a PID file
(`make up`, the demo), found again by name; a PID file whose process is gone (or is now some
other program) is stale: it is removed, never trusted. `child_process` runs one for the length
of an async block, stopped at its end (benchmarks, tests); `run_module` runs one to completion.
"""

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from devtools.waiting import StillWaiting, poll_until

RUN_DIR = Path("logs")


@dataclass(frozen=True)
class ProcessSpec:
    name: str  # e.g. "engine-2"
    module: str  # e.g. "services.engine"
    env: dict[str, str]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def pid_file(name: str) -> Path:
    return RUN_DIR / f"{name}.pid"


def log_file(name: str) -> Path:
    return RUN_DIR / f"{name}.log"


def module_command(module: str, *args: str) -> list[str]:
    """`python -m module args...` with this interpreter (the virtualenv's)."""
    return [sys.executable, "-m", module, *args]


def module_environment(env: Mapping[str, str]) -> dict[str, str]:
    """This process's environment with `env` on top."""
    return {**os.environ, **env}


# --- in the background, found again by name ------------------------------------------------


def start(spec: ProcessSpec) -> int:
    RUN_DIR.mkdir(exist_ok=True)
    with log_file(spec.name).open("ab") as log:
        proc = subprocess.Popen(
            module_command(spec.module),
            env=module_environment(spec.env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # not stopped by the terminal's Ctrl-C meant for us
        )
    # Until the new process has exec'd, /proc shows it without its command line.
    deadline = time.monotonic() + 5
    while not _runs(proc.pid, spec.module) and proc.poll() is None:
        if time.monotonic() > deadline:
            break
        time.sleep(0.01)
    pid_file(spec.name).write_text(f"{proc.pid} {spec.module}\n")
    return proc.pid


def _runs(pid: int, module: str) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return module.encode() in cmdline


def running_pid(name: str) -> int | None:
    """The PID of `name` if its PID file names a live process of that module; a stale file
    is deleted."""
    path = pid_file(name)
    try:
        pid_text, module = path.read_text().split()
        pid = int(pid_text)
    except (OSError, ValueError):
        path.unlink(missing_ok=True)
        return None
    if _runs(pid, module):
        return pid
    path.unlink(missing_ok=True)
    return None


def known_names() -> list[str]:
    return sorted(p.stem for p in RUN_DIR.glob("*.pid")) if RUN_DIR.exists() else []


def stop(name: str, timeout: float = 30.0) -> bool:
    """SIGTERM, then SIGKILL after `timeout`; True if something was running."""
    pid = running_pid(name)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and running_pid(name) is not None:
        _reap(pid)
        time.sleep(0.1)
    if running_pid(name) is not None:
        os.kill(pid, signal.SIGKILL)
    _reap(pid)
    pid_file(name).unlink(missing_ok=True)
    return True


def _reap(pid: int) -> None:
    """Collect our own child's exit status so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


# --- for the length of a block -------------------------------------------------------------

STOP_GRACE_SECONDS = 30.0


@contextlib.asynccontextmanager
async def child_process(
    module: str,
    env: Mapping[str, str],
    *args: str,
    log: Path | None = None,
    grace: float = STOP_GRACE_SECONDS,
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`python -m module args...` for the block, its output in `log` (or discarded); stopped at
    the end with SIGTERM, then SIGKILL after `grace` seconds (at once when `grace` is 0)."""
    with contextlib.ExitStack() as files:
        out = files.enter_context(log.open("wb")) if log else asyncio.subprocess.DEVNULL
        proc = await asyncio.create_subprocess_exec(
            *module_command(module, *args),
            env=module_environment(env),
            stdout=out,
            stderr=out,
        )
        try:
            yield proc
        finally:
            await _end(proc, grace)


async def _end(proc: asyncio.subprocess.Process, grace: float) -> None:
    if proc.returncode is not None:
        return
    if grace > 0:
        proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), grace)
            return
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    await proc.wait()


async def run_module(
    module: str,
    *args: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    within: float = 120.0,
    with_stderr: bool = True,
) -> tuple[int, str]:
    """Run `python -m module args...` to its end; its exit code and its output (stdout, and
    stderr too unless `with_stderr` is false: then stderr is this process's). Killed, and
    StillWaiting raised, if it runs longer than `within`."""
    proc = await asyncio.create_subprocess_exec(
        *module_command(module, *args),
        env=module_environment(env or {}),
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT if with_stderr else None,
    )
    try:
        output, _ = await asyncio.wait_for(proc.communicate(), within)
    except TimeoutError:
        await _end(proc, grace=0)
        raise StillWaiting(f"python -m {module} {' '.join(args)} to exit", within, None) from None
    return proc.returncode or 0, output.decode(errors="replace")


async def wait_until_serving(
    url: str, proc: asyncio.subprocess.Process, log: Path | None = None, *, within: float = 30.0
) -> None:
    """Until `url` answers 200; fails early, with the log's tail, if the process ends."""

    async def answered() -> bool:
        if proc.returncode is not None:
            raise RuntimeError(f"{url}: the server exited ({proc.returncode}): {tail(log)}")
        try:
            async with http.get(url) as resp:
                return resp.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    timeout = aiohttp.ClientTimeout(total=5)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        try:
            await poll_until(answered, within=within, what=f"{url} serving")
        except StillWaiting as exc:
            raise RuntimeError(f"{exc}: {tail(log)}") from None


def tail(path: Path | None, lines: int = 15) -> str:
    """The last lines of a log file, for an error message."""
    if path is None:
        return "(no log)"
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return ""
