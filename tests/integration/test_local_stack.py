"""`make up`, `make status`, `make down` against the real servers."""

import asyncio
import os
import sys
from pathlib import Path

import pytest

from devtools.launcher import free_port
from shared.settings import Settings

pytestmark = pytest.mark.integration


async def local_stack(command: str, env: dict[str, str], cwd: Path) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "devtools.local_stack",
        command,
        "--engines",
        "1",
        "--offline",
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(proc.communicate(), timeout=120)
    return proc.returncode or 0, output.decode()


async def test_up_status_down(settings: Settings, tmp_path: Path) -> None:
    env = {**os.environ, **settings.environment(), "API_PORT": str(free_port()), "COLUMNS": "200"}
    code, out = await local_stack("up", env, tmp_path)
    try:
        assert code == 0, out
        assert "started api" in out and "started engine-1" in out and "ready" in out
        code, out = await local_stack("status", env, tmp_path)
        assert code == 0, out
        for name in ("api", "ingest", "engine-1", "bybit-sim"):
            assert name in out
        assert "gone" not in out and "ready" in out
        # A second `up` starts nothing twice.
        code, out = await local_stack("up", env, tmp_path)
        assert "already running" in out and "started" not in out
    finally:
        code, out = await local_stack("down", env, tmp_path)
    assert code == 0 and "api: stopped" in out
    assert not list((tmp_path / "logs").glob("*.pid"))
    code, out = await local_stack("status", env, tmp_path)
    assert code == 1 and "not answering" in out
