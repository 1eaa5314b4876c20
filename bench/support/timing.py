"""Best-of timing: the fastest of a few runs of the same work, each after a garbage collection."""

import gc
import time
from collections.abc import Callable


def best_seconds(
    run: Callable[[], object], repeats: int, clock: Callable[[], float] = time.perf_counter
) -> float:
    """The shortest time on `clock` (the wall clock unless told) of `repeats` calls of `run`
    (at least one)."""
    best = float("inf")
    for _ in range(max(repeats, 1)):
        gc.collect()
        started = clock()
        run()
        best = min(best, clock() - started)
    return best


def best_cpu_seconds(run: Callable[[], object], repeats: int) -> float:
    """The least CPU time of this process over `repeats` calls of `run`: on a shared machine
    the steadier figure for parts of a run timed one after another."""
    return best_seconds(run, repeats, time.process_time)
