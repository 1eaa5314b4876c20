"""Starting the platform's processes in the background, with a log file and a PID file each,
and finding or stopping them again. A PID file whose process is gone (or is now some other
program) is stale: it is removed, never trusted."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

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


def start(spec: ProcessSpec) -> int:
    RUN_DIR.mkdir(exist_ok=True)
    with log_file(spec.name).open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", spec.module],
            env={**os.environ, **spec.env},
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
