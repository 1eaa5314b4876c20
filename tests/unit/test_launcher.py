"""PID files are checked against the live process before they are trusted."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from devtools import launcher


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
