"""Best-of timing: the fastest of a few runs of the same work, each after a garbage collection."""

import gc
import time
from collections.abc import Callable


def best_seconds(run: Callable[[], object], repeats: int) -> float:
    """The shortest wall time of `repeats` calls of `run` (at least one)."""
    best = float("inf")
    for _ in range(max(repeats, 1)):
        gc.collect()
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


def best_cpu_seconds(run: Callable[[], object], repeats: int) -> float:
    """The least CPU time of this process over `repeats` calls of `run` (at least one): on a
    shared machine the steadier figure for parts of a run timed one after another."""
    best = float("inf")
    for _ in range(max(repeats, 1)):
        gc.collect()
        started = time.process_time()
        run()
        best = min(best, time.process_time() - started)
    return best
