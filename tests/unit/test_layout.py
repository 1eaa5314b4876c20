"""The import rules of the layout (README, Layout), read from the source with `ast`."""

import ast
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOLING = ("bench", "devtools", "tests")
SERVER_SIDE = ("services", "shared", "domain")
DOMAIN_MAY_IMPORT = {"numpy", "numba", "polars", "scipy", "domain"}


def _imports(folder: str) -> list[tuple[str, str]]:
    """(file, imported module) for every import statement under `folder`."""
    found = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 0, f"{path}: relative import"
                modules = [node.module or ""]
            else:
                continue
            found += [(str(path.relative_to(ROOT)), module) for module in modules]
    return found


def _top(module: str) -> str:
    return module.split(".")[0]


def test_the_rules_see_imports() -> None:
    assert ("shared/backtest_spec.py", "domain.strategies") in _imports("shared")
    assert ("domain/compiled_cache.py", "numba") in _imports("domain")


def test_shared_imports_no_service_and_no_tooling() -> None:
    wrong = [(f, m) for f, m in _imports("shared") if _top(m) in ("services", *TOOLING)]
    assert wrong == []


@pytest.mark.parametrize("service", ["api", "ingest", "engine", "bybit_sim"])
def test_a_service_imports_shared_its_own_modules_and_no_tooling(service: str) -> None:
    own = f"services.{service}"
    wrong = [
        (f, m)
        for f, m in _imports(f"services/{service}")
        if _top(m) in TOOLING or (_top(m) == "services" and not m.startswith(own))
    ]
    assert wrong == []


def test_the_domain_imports_only_itself_the_numeric_libraries_and_the_standard_library() -> None:
    """The pure core at the bottom: no request models, no SQL, no AMQP, no service."""
    found = _imports("domain")
    wrong = [
        (f, m)
        for f, m in found
        if _top(m) not in DOMAIN_MAY_IMPORT and _top(m) not in sys.stdlib_module_names
    ]
    assert wrong == []
    assert not {"pydantic", "asyncpg", "aio_pika", "shared", "services"} & {
        _top(m) for _, m in found
    }


def test_shared_imports_the_domain() -> None:
    assert ("shared/metric_names.py", "domain.metrics.names") in _imports("shared")


def test_the_command_line_is_a_client_of_the_api_alone() -> None:
    """cli/ reaches the platform over HTTP only: no service, no shared code, no tooling."""
    assert ("cli/api_client.py", "httpx") in _imports("cli")
    wrong = [(f, m) for f, m in _imports("cli") if _top(m) in (*SERVER_SIDE, *TOOLING)]
    assert wrong == []
    importers = [(f, m) for d in SERVER_SIDE for f, m in _imports(d) if _top(m) == "cli"]
    assert importers == []


def test_the_example_producer_is_a_client_of_the_broker_alone() -> None:
    """examples/producer.py is what a producer's own program looks like: aio-pika, no code
    of the platform's."""
    found = [(f, m) for f, m in _imports("examples") if f == "examples/producer.py"]
    assert ("examples/producer.py", "aio_pika") in found
    wrong = [(f, m) for f, m in found if _top(m) not in ("aio_pika", *sys.stdlib_module_names)]
    assert wrong == []


def test_the_docs_the_code_cites_exist() -> None:
    cited = {
        match
        for folder in ("domain", "services", "shared", "tests", "bench", "devtools", "cli")
        for path in (ROOT / folder).rglob("*.py")
        if path != Path(__file__).resolve()
        for match in re.findall(r"docs/[a-z_]+\.md", path.read_text())
    }
    assert {"docs/api.md", "docs/simulation.md"} <= cited
    assert [doc for doc in sorted(cited) if not (ROOT / doc).is_file()] == []
