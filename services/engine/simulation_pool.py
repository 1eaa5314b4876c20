"""The engine's process pool, seen from the event loop: simulations run there under the job
timeout, and what user code does wrong comes back as the job's reason.

A run past `ENGINE_JOB_TIMEOUT_SECONDS` cannot be interrupted inside its process, so the
pool's processes are replaced: that run's job fails with "timed out after N s", and any
other run in flight then gets BrokenProcessPool, an ordinary failure whose message is
delivered again.
"""

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

from domain.strategies import install_strategies
from domain.targets.plugin_targets import StrategyError
from services.engine import pool_transfer
from services.engine.pool_warm_up import warm_up
from shared.freed_memory import keep_freed_pages
from shared.jobs import JobRejected

log = logging.getLogger(__name__)
R = TypeVar("R")


class SimulationPool:
    def __init__(self, processes: int, strategy_path: str, timeout_seconds: float) -> None:
        self.processes = processes
        self.strategy_path = strategy_path
        self.timeout_seconds = timeout_seconds
        self._executor = self._new_executor()
        # Segments kept for results and for arguments, as many as calls in flight at once
        # (two backtests a process).
        self._rooms = pool_transfer.Segments(kept=2 * processes)
        self._arguments = pool_transfer.Segments(kept=2 * processes)

    def _new_executor(self) -> ProcessPoolExecutor:
        # Spawned, not forked: a forked pool process would inherit the broker connection's
        # socket and keep it open after this process is killed, so its unacknowledged jobs
        # would not be redelivered until the broker's heartbeat timeout.
        return ProcessPoolExecutor(
            max_workers=self.processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_pool_process,
            initargs=(os.getpid(), self.strategy_path),
        )

    async def start(self) -> None:
        """Start every pool process (and compile its kernels) before taking jobs, so the first
        jobs do not pay for it."""
        loop = asyncio.get_running_loop()
        await asyncio.gather(
            *(loop.run_in_executor(self._executor, time.sleep, 0.05) for _ in range(self.processes))
        )

    async def run(
        self,
        function: Callable[..., R],
        *args: Any,
        room: int = 0,
        keeps_no_arguments: bool = False,
    ) -> R:
        """`function(*args)` in a pool process; JobRejected when it runs past the timeout or
        user code fails (the reason says which). `room`: bytes the result's large arrays
        take, if known; `keeps_no_arguments`: `function` keeps no view of its arguments once
        it returns, so their segment serves later calls (`pool_transfer`)."""
        loop = asyncio.get_running_loop()
        arguments = self._arguments if keeps_no_arguments else None
        try:
            with pool_transfer.shipped(function, args, room, self._rooms, arguments) as shipment:
                future = loop.run_in_executor(self._executor, *shipment.call)
                return shipment.result(await asyncio.wait_for(future, self.timeout_seconds))
        except TimeoutError:
            await self._replace_processes()
            raise JobRejected(f"timed out after {self.timeout_seconds:g} s") from None
        except StrategyError as exc:
            raise JobRejected(str(exc)) from None

    async def _replace_processes(self) -> None:
        stuck = self._executor
        self._executor = self._new_executor()
        for process in list(getattr(stuck, "_processes", {}).values()):
            process.kill()
        stuck.shutdown(wait=False, cancel_futures=True)
        log.warning("pool processes replaced after a timeout", extra={"processes": self.processes})
        await self.start()

    def shutdown(self) -> None:
        self._executor.shutdown(cancel_futures=True)
        self._rooms.close()
        self._arguments.close()


def _start_pool_process(parent: int, strategy_path: str) -> None:
    """In each pool process: exit when the engine process is gone (killed, it cannot say so),
    keep freed arrays' pages (`freed_memory`), load the plugins, then load or compile the
    kernels (`pool_warm_up`)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
    keep_freed_pages()
    install_strategies(strategy_path)
    warm_up()
