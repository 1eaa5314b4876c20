"""The pool's processes start with glibc's allocator told to keep freed memory for the next run."""

import asyncio
import os

import pytest

from services.engine.simulation_pool import POOL_ALLOCATOR_ENV, SimulationPool
from tests.support.paths import TEST_PLUGINS


def _allocator_env() -> dict[str, str | None]:
    return {name: os.environ.get(name) for name in POOL_ALLOCATOR_ENV}


async def _in_a_pool_process() -> dict[str, str | None]:
    pool = SimulationPool(1, str(TEST_PLUGINS), timeout_seconds=600)
    try:
        return await pool.run(_allocator_env)
    finally:
        pool.shutdown()


def test_pool_processes_start_with_the_allocator_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in POOL_ALLOCATOR_ENV:
        monkeypatch.delenv(name, raising=False)
    assert asyncio.run(_in_a_pool_process()) == POOL_ALLOCATOR_ENV


def test_an_operators_own_allocator_settings_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_TOP_PAD_", "0")
    seen = asyncio.run(_in_a_pool_process())
    assert seen["MALLOC_TOP_PAD_"] == "0"
    assert seen["MALLOC_TRIM_THRESHOLD_"] == POOL_ALLOCATOR_ENV["MALLOC_TRIM_THRESHOLD_"]
