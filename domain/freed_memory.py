"""Freed arrays' pages kept in the process, so the next backtest's arrays need no page faults.

A year of minutes makes arrays of 4 MB (prices, indicators, targets, equity, returns). glibc
hands blocks that large to the kernel when they are freed (mmap'd, or trimmed off the top of
the heap), and each new one is then faulted in page by page: a quarter of a backtest's time.
With the thresholds raised they come from the heap and go back to it, their pages resident.
"""

import ctypes
import ctypes.util
import functools

# mallopt's parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# Blocks up to this size come from the heap; the heap keeps up to this much free at its top.
MMAP_THRESHOLD_BYTES = 64 * 2**20
TRIM_THRESHOLD_BYTES = 256 * 2**20


@functools.cache
def keep_freed_pages() -> bool:
    """Raise glibc's thresholds once per process; False where the C library has no mallopt."""
    name = ctypes.util.find_library("c")
    mallopt = getattr(ctypes.CDLL(name), "mallopt", None) if name else None
    if mallopt is None:
        return False
    kept: bool = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
    return bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1) and kept
