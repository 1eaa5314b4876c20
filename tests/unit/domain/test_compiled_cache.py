"""The domain's compiled functions are cached under a stamp of all of the domain's sources, so
a change to an inlined helper in another module recompiles the kernels that use it."""

import shutil
from pathlib import Path
from typing import Any

import numpy as np
from numba import njit

from domain.compiled_cache import DOMAIN_LOCATORS, DOMAIN_ROOT, sources_digest
from domain.execution import kernel, positions
from domain.metrics import performance


def test_a_change_to_any_domain_source_changes_the_stamp(tmp_path: Path) -> None:
    copy = tmp_path / "domain"
    shutil.copytree(DOMAIN_ROOT, copy, ignore=shutil.ignore_patterns("__pycache__"))
    before = sources_digest(copy)
    assert sources_digest(copy) == before
    helper = copy / "execution" / "positions.py"
    helper.write_text(helper.read_text() + "\n# a helper changed, not the kernel\n")
    assert sources_digest(copy) != before


def test_the_domains_kernels_are_stamped_with_every_domain_source() -> None:
    positions_digest = sources_digest(DOMAIN_ROOT)
    found: list[Any] = []
    for module in (kernel, positions, performance):
        for value in vars(module).values():
            cache = getattr(value, "_cache", None)
            locator = getattr(getattr(cache, "_impl", None), "_locator", None)
            if locator is not None:
                found.append(locator)
    assert found, "no cached compiled function found in the domain"
    for locator in found:
        assert isinstance(locator, DOMAIN_LOCATORS)
        assert locator.get_source_stamp() == positions_digest


def test_functions_outside_the_domain_keep_numbas_own_stamp() -> None:
    @njit(cache=True)
    def outside(x: np.ndarray) -> float:
        return float(x.sum())

    assert outside(np.ones(3)) == 3.0
    locator = outside._cache._impl._locator  # type: ignore[attr-defined]
    assert not isinstance(locator, DOMAIN_LOCATORS)


def test_every_domain_module_compiles_through_the_stamped_njit() -> None:
    direct = [
        path.relative_to(DOMAIN_ROOT).as_posix()
        for path in DOMAIN_ROOT.rglob("*.py")
        if path.name != "compiled_cache.py" and "from numba import" in path.read_text()
    ]
    assert direct == []
