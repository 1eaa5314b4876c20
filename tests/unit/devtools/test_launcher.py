"""PID files are checked against the live process before they are trusted; processes for the
length of a block end with it."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from devtools import launcher
from devtools.waiting import StillWaiting


@pytest.fixture(autouse=True)
def run_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(launcher, "RUN_DIR", tmp_path)
    return tmp_path


def test_a_pid_file_of_a_finished_process_is_stale_and_removed(run_dir: Path) -> None:
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    (run_dir / "api.pid").write_text(f"{finished.pid} services.api\n")
    assert launcher.running_pid("api") is None
    assert not (run_dir / "api.pid").exists()


def test_a_pid_reused_by_another_program_is_not_trusted(run_dir: Path) -> None:
    (run_dir / "api.pid").write_text(f"{os.getpid()} services.api\n")  # this is pytest
    assert launcher.running_pid("api") is None


def test_a_garbled_pid_file_is_removed(run_dir: Path) -> None:
    (run_dir / "ingest.pid").write_text("not a pid")
    assert launcher.running_pid("ingest") is None
    assert launcher.known_names() == []


def test_start_and_stop_a_process(run_dir: Path) -> None:
    spec = launcher.ProcessSpec("sim", "services.bybit_sim", {"BYBIT_SIM_PORT": "0"})
    pid = launcher.start(spec)
    assert launcher.running_pid("sim") == pid
    assert launcher.known_names() == ["sim"]
    assert launcher.stop("sim", timeout=10)
    assert launcher.running_pid("sim") is None
    assert not launcher.stop("sim")
    assert (run_dir / "sim.log").exists()


async def test_a_child_process_is_stopped_with_sigterm_at_the_end_of_the_block(
    tmp_path: Path,
) -> None:
    log = tmp_path / "sim.log"
    env = {"BYBIT_SIM_PORT": str(launcher.free_port()), "BYBIT_SIM_LOG_LEVEL": "INFO"}
    async with launcher.child_process("services.bybit_sim", env, log=log) as proc:
        url = f"http://127.0.0.1:{env['BYBIT_SIM_PORT']}/sim/stats"
        await launcher.wait_until_serving(url, proc, log, within=60)
    assert proc.returncode == 0, launcher.tail(log)  # a clean exit: it was asked, not killed


async def test_a_child_process_with_no_grace_is_killed() -> None:
    async with launcher.child_process("http.server", {}, "0", grace=0) as proc:
        pass
    assert proc.returncode == -signal.SIGKILL


async def test_run_module_returns_the_exit_code_and_the_output() -> None:
    code, out = await launcher.run_module("platform", env={"PYTHONWARNINGS": "ignore"})
    assert code == 0 and out.strip()
    code, out = await launcher.run_module("no_such_module_anywhere")
    assert code == 1 and "No module named" in out


async def test_run_module_kills_what_outlives_its_deadline() -> None:
    with pytest.raises(StillWaiting):
        await launcher.run_module("http.server", "0", within=0.5)


async def test_waiting_for_a_server_that_exits_fails_at_once(tmp_path: Path) -> None:
    log = tmp_path / "gone.log"
    async with launcher.child_process("no_such_module_anywhere", {}, log=log) as proc:
        with pytest.raises(RuntimeError, match="exited"):
            await launcher.wait_until_serving("http://127.0.0.1:1/", proc, log, within=60)
