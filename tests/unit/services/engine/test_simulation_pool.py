"""The pool's processes keep freed arrays' pages for the next run, unless the operator set
glibc's allocator themselves."""

import asyncio
import resource

import numpy as np
import pytest

from services.engine.simulation_pool import SimulationPool
from shared.freed_memory import OPERATOR_SETTINGS, keep_freed_pages
from tests.support.paths import TEST_PLUGINS


def _kept_and_faults() -> tuple[bool, int]:
    """Whether the process raised its thresholds, and the page faults of five freed 4 MB arrays."""
    np.ones(525_600)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        np.ones(525_600)  # each would fault in 1,028 pages if handed back on free
    return keep_freed_pages(), resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


async def _in_a_pool_process() -> tuple[bool, int]:
    pool = SimulationPool(1, str(TEST_PLUGINS), timeout_seconds=600)
    try:
        return await pool.run(_kept_and_faults)
    finally:
        pool.shutdown()


def test_pool_processes_reuse_freed_arrays_without_page_faults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in OPERATOR_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    kept, faults = asyncio.run(_in_a_pool_process())
    assert kept
    assert faults < 200


def test_an_operators_own_allocator_settings_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_TOP_PAD_", "0")
    kept, _ = asyncio.run(_in_a_pool_process())
    assert not kept
