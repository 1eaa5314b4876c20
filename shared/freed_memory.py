"""Freed arrays' pages kept in the process, so the next simulation's arrays need no page faults.

A year of minutes makes arrays of 4 MB (prices, indicators, targets, equity, returns), a
portfolio's flat columns more. glibc hands blocks that large back to the kernel when they are
freed (mmap'd, or trimmed off the top of the heap), and each new one is then faulted in page by
page: a quarter to a third of a backtest's time. With the thresholds raised they come from the
heap and go back to it, their pages resident (and glibc no longer moves its mmap threshold as
it learns, so that is raised too).

Set in every process that simulates, as the engine's pool processes do when they start, and
in the benchmarks that time the core as those processes run it. An operator's own `MALLOC_*_`
settings (read by glibc at start) win: then nothing is changed.
"""

import ctypes
import ctypes.util
import functools
import os

# mallopt's parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3
# Blocks up to this size come from the heap; the heap keeps up to this much free at its top,
# and grows by this much more than asked.
_THRESHOLDS = {
    _M_MMAP_THRESHOLD: 64 * 2**20,
    _M_TRIM_THRESHOLD: 256 * 2**20,
    _M_TOP_PAD: 64 * 2**20,
}
OPERATOR_SETTINGS = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_THRESHOLD_")


@functools.cache
def keep_freed_pages() -> bool:
    """Raise glibc's thresholds once per process; False where the C library has no mallopt or
    the operator set their own."""
    if any(name in os.environ for name in OPERATOR_SETTINGS):
        return False
    name = ctypes.util.find_library("c")
    mallopt = getattr(ctypes.CDLL(name), "mallopt", None) if name else None
    if mallopt is None:
        return False
    return all([mallopt(parameter, value) == 1 for parameter, value in _THRESHOLDS.items()])
