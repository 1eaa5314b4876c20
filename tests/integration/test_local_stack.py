"""`make up`, `make status`, `make down` against the real servers."""

import asyncio
import contextlib
import os
import signal
import uuid
from pathlib import Path

import pytest

from devtools.launcher import free_port, run_module
from devtools.waiting import poll_until
from shared.amqp import Topology
from shared.producer_rights import producer_permissions
from shared.settings import Settings
from tests.support.rabbitmq_users import rabbitmqctl

pytestmark = pytest.mark.integration


async def local_stack(command: str, env: dict[str, str], cwd: Path) -> tuple[int, str]:
    return await run_module(
        "devtools.local_stack", command, "--engines", "1", "--offline", env=env, cwd=cwd
    )


async def test_up_status_down(settings: Settings, tmp_path: Path) -> None:
    env = {**os.environ, **settings.environment(), "API_PORT": str(free_port()), "COLUMNS": "200"}
    env["BYBIT_SIM_PORT"] = str(free_port())  # beside any other stack on this machine
    producer = env["PRODUCER_USER"] = f"bt-test-{uuid.uuid4().hex[:12]}"
    code, out = await local_stack("up", env, tmp_path)
    try:
        assert code == 0, out
        assert "started api" in out and "started engine-1" in out and "ready" in out
        # The RabbitMQ user of message-queue producers, with their rights.
        assert f"RabbitMQ user '{producer}'" in out, out
        rights = await rabbitmqctl("list_user_permissions", producer, "--quiet")
        expected = producer_permissions(Topology(settings.amqp_prefix))
        assert rights.split()[-4:] == ["/", expected.configure, expected.write, expected.read]
        code, out = await local_stack("status", env, tmp_path)
        assert code == 0, out
        for name in ("api", "ingest", "engine-1", "bybit-sim"):
            assert name in out
        assert "gone" not in out and "ready" in out
        # A second `up` starts nothing twice.
        code, out = await local_stack("up", env, tmp_path)
        assert "already running" in out and "started" not in out
        # A process that died is reported, and the status is a failure.
        engine_pid = int((tmp_path / "logs" / "engine-1.pid").read_text().split()[0])
        os.kill(engine_pid, signal.SIGKILL)
        await poll_until(
            lambda: _gone(engine_pid), within=30, what=f"engine-1 (pid {engine_pid}) gone"
        )
        code, out = await local_stack("status", env, tmp_path)
        assert code == 1 and "engine-1" in out and "gone" in out, out
    finally:
        code, out = await local_stack("down", env, tmp_path)
        with contextlib.suppress(RuntimeError):
            await rabbitmqctl("delete_user", producer)
    assert code == 0 and "api: stopped" in out
    assert not list((tmp_path / "logs").glob("*.pid"))
    code, out = await local_stack("status", env, tmp_path)
    assert code == 0 and "nothing runs" in out, out


async def test_status_with_nothing_started_says_nothing_runs(
    settings: Settings, tmp_path: Path
) -> None:
    env = {**os.environ, **settings.environment(), "API_PORT": str(free_port())}
    code, out = await local_stack("status", env, tmp_path)
    assert code == 0 and "nothing runs" in out, out


async def _gone(pid: int) -> bool:
    return await asyncio.to_thread(_ended, pid)


def _ended(pid: int) -> bool:
    """The process has ended (a zombie of a detached process counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state == "Z"
