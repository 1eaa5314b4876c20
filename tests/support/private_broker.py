"""A RabbitMQ node of the test's own (this machine's rabbitmq-server, its own name, ports and
data directory), so that a test can restart a broker without disturbing anyone else's.

Its data survive a restart exactly as a real broker's do: durable queues, persistent messages.
"""

import asyncio
import contextlib
import os
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from devtools.launcher import free_port


async def _port_open(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    return True


class PrivateBroker:
    def __init__(self, home: Path) -> None:
        self.node = f"bt-{secrets.token_hex(4)}@localhost"
        self.port = free_port()
        self.home = home
        self._process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def _environment(self) -> dict[str, str]:
        home = str(self.home)
        return {
            **os.environ,
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_CONFIG_FILE": f"{home}/rabbitmq.conf",
            "RABBITMQ_CONF_ENV_FILE": f"{home}/rabbitmq-env.conf",
            "RABBITMQ_MNESIA_BASE": f"{home}/mnesia",
            "RABBITMQ_LOG_BASE": f"{home}/log",
            "RABBITMQ_ENABLED_PLUGINS_FILE": f"{home}/enabled_plugins",
            "RABBITMQ_FEATURE_FLAGS_FILE": f"{home}/feature_flags",
            "RABBITMQ_PID_FILE": f"{home}/pid",
        }

    async def start(self, within: float = 120) -> None:
        tool = shutil.which("rabbitmq-server")
        if tool is None:
            raise RuntimeError("rabbitmq-server is not installed: the restart test needs it")
        for directory in ("mnesia", "log"):
            (self.home / directory).mkdir(parents=True, exist_ok=True)
        (self.home / "rabbitmq.conf").write_text(f"listeners.tcp.local = 127.0.0.1:{self.port}\n")
        (self.home / "rabbitmq-env.conf").write_text("")
        (self.home / "enabled_plugins").write_text("[].\n")
        # The server may run as the rabbitmq user: it must be able to write here.
        for path in [self.home, *self.home.rglob("*")]:
            path.chmod(0o777)
        self._process = await asyncio.create_subprocess_exec(
            tool,
            env=self._environment(),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = asyncio.get_running_loop().time() + within
        while not await _port_open(self.port):
            if self._process.returncode is not None:
                raise RuntimeError(f"rabbitmq-server exited: see {self.home}/log")
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(f"rabbitmq-server not listening after {within} s")
            await asyncio.sleep(0.2)

    async def stop(self) -> None:
        """Stop the node as an operator would (`rabbitmqctl stop`), then make sure it is gone."""
        process = self._process
        if process is None:
            return
        tool = shutil.which("rabbitmqctl") or "rabbitmqctl"
        stopping = await asyncio.create_subprocess_exec(
            tool,
            "-n",
            self.node,
            "stop",
            env=self._environment(),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), 60)
        try:
            await asyncio.wait_for(process.wait(), 30)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, 9)
            await process.wait()
        self._process = None

    async def restart(self) -> None:
        await self.stop()
        await self.start()


def _world_writable(directory: str) -> Path:
    path = Path(directory)
    path.chmod(0o777)
    return path


@contextlib.asynccontextmanager
async def private_broker() -> AsyncIterator[PrivateBroker]:
    """A node in a directory of its own under the system's temporary directory (the server
    may run as the rabbitmq user, which cannot enter a test's private tmp_path), removed after."""
    home = _world_writable(tempfile.mkdtemp(prefix="bt-rabbitmq-"))
    broker = PrivateBroker(home)
    try:
        await broker.start()
        yield broker
    finally:
        await broker.stop()
        shutil.rmtree(home, ignore_errors=True)
