"""The compose file is valid and runs the processes of docs/api.md with their variables."""

import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.settings import Settings

pytestmark = pytest.mark.integration

COMPOSE = Path(__file__).parents[2] / "deploy" / "docker-compose.yml"
DOCUMENTED_COMMANDS = {
    "api": "services.api",
    "ingest": "services.ingest",
    "engine": "services.engine",
    "bybit-sim": "services.bybit_sim",
}
DOCUMENTED_VARIABLES = {
    "DATABASE_URL",
    "AMQP_URL",
    "BYBIT_REST_URL",
    "BYBIT_WS_URL",
    "INGEST_STREAMS",
    "API_TOKEN",
    "STRATEGY_PATH",
    "ENGINE_JOB_TIMEOUT_SECONDS",
}


@pytest.fixture(scope="module")
def resolved() -> dict[str, Any]:
    """`docker-compose config` output: anchors, merges and defaults resolved."""
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.fail(
            "docker-compose is needed: `apt-get install docker-compose` (make test does it)"
        )
    check = subprocess.run(
        [binary, "-f", str(COMPOSE), "--profile", "offline", "config", "-q"],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr
    out = subprocess.run(
        [binary, "-f", str(COMPOSE), "--profile", "offline", "config"],
        capture_output=True,
        text=True,
        check=True,
    )
    config: dict[str, Any] = yaml.safe_load(out.stdout)
    return config


def test_every_documented_process_runs_with_its_start_command(
    resolved: dict[str, Any],
) -> None:
    services = resolved["services"]
    for name, module in DOCUMENTED_COMMANDS.items():
        assert services[name]["command"] == ["python", "-m", module], name
    assert services["bybit-sim"]["profiles"] == ["offline"]


def test_services_are_configured_by_the_documented_variables(resolved: dict[str, Any]) -> None:
    known = {name.upper() for name in Settings.model_fields}
    for name in ("api", "ingest", "engine"):
        environment = set(resolved["services"][name]["environment"])
        assert environment >= DOCUMENTED_VARIABLES, name
        assert environment <= known, f"{name} sets variables no setting reads"


def test_engine_scales_and_everything_is_checked_and_restarted(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    engine = services["engine"]
    assert "container_name" not in engine and "ports" not in engine, "engine must scale"
    for name in ("postgres", "rabbitmq", "api", "engine", "bybit-sim"):
        assert "healthcheck" in services[name], name
    for name in ("postgres", "rabbitmq", "api", "ingest", "engine"):
        assert services[name]["restart"] == "unless-stopped", name
    assert set(resolved["volumes"]) == {"pgdata", "rabbitdata"}


def test_the_image_runs_as_a_user_and_caches_dependencies() -> None:
    dockerfile = (COMPOSE.parents[1] / "Dockerfile").read_text()
    assert "USER app" in dockerfile
    assert dockerfile.index("COPY pyproject.toml") < dockerfile.index("COPY services")


def test_the_image_holds_every_installed_package_but_the_tooling() -> None:
    root = COMPOSE.parents[1]
    find = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    installed = {pattern.rstrip("*") for pattern in find["find"]["include"]}
    copied = set(re.findall(r"^COPY (\w+) ", (root / "Dockerfile").read_text(), re.M))
    assert copied == installed - {"devtools"}
