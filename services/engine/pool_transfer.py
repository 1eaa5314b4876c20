"""A pool call's large arrays through shared memory instead of the pool's pipe.

Pickled into the pipe, a year of 1-minute candles and their perpetual market (about 40 MB)
was copied four times and took longer than the backtest. Here the arguments are pickled with
their arrays left out (protocol 5's out-of-band buffers), the arrays' bytes are copied once
into a shared memory segment, and the pool process unpickles arrays that are views of it.

The engine process creates the segment (POSIX shared memory, under /dev/shm on Linux; its
resource tracker removes what a killed engine leaves) and unlinks it when the call is over.
The pool process maps it as a file, and the mapping goes when the last array viewing it does
(a result may still hold one while it is sent back, a pool cache until its next call).
Where /dev/shm is missing or full, the arguments go through the pipe.
"""

import contextlib
import mmap
import os
import pickle
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.shared_memory import SharedMemory
from pathlib import Path
from typing import Any, TypeVar

R = TypeVar("R")
# Smaller arguments go through the pipe as they are: a segment costs a few system calls.
SHARED_FROM_BYTES = 1 << 20
_ALIGNMENT = 64  # each array at a cache line (numba compiles aligned and unaligned apart)
_SEGMENTS = Path("/dev/shm")


@dataclass(frozen=True)
class Shipment:
    """Arguments pickled without their buffers, which are at `spans` of the segment."""

    pickled: bytes
    segment: str
    spans: tuple[tuple[int, int], ...]


@contextlib.contextmanager
def shipped(function: Callable[..., R], args: tuple[Any, ...]) -> Iterator[tuple[Any, ...]]:
    """What to run in the pool for `function(*args)`: `(function, *args)` itself when the
    arrays in `args` are small, else `(call_shipped, function, Shipment)` with the arrays
    in a segment that lives until the context exits."""
    buffers: list[pickle.PickleBuffer] = []
    pickled = pickle.dumps(args, protocol=5, buffer_callback=buffers.append)
    views = [buffer.raw() for buffer in buffers]
    spans = []
    end = 0
    for view in views:
        start = -(-end // _ALIGNMENT) * _ALIGNMENT
        end = start + view.nbytes
        spans.append((start, end))
    if end < SHARED_FROM_BYTES or not _SEGMENTS.is_dir():
        yield (function, *args)
        return
    segment = SharedMemory(create=True, size=end)
    if not _reserved(segment.name, end):  # /dev/shm is full (a container's is 64 MB)
        segment.close()
        segment.unlink()
        yield (function, *args)
        return
    try:
        memory = segment.buf
        assert memory is not None  # open until closed below
        for view, (start, stop) in zip(views, spans, strict=True):
            memory[start:stop] = view
        del memory
        yield (call_shipped, function, Shipment(pickled, segment.name, tuple(spans)))
    finally:
        segment.close()
        segment.unlink()


def _reserved(name: str, size: int) -> bool:
    """Whether the segment's pages could be allocated now: writing to pages a full tmpfs
    cannot back would kill the process (SIGBUS)."""
    fd = os.open(_SEGMENTS / name.lstrip("/"), os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError:
        return False
    finally:
        os.close(fd)
    return True


def call_shipped(function: Callable[..., R], shipment: Shipment) -> R:
    """In a pool process: `function` called with the shipped arguments."""
    fd = os.open(_SEGMENTS / shipment.segment.lstrip("/"), os.O_RDWR)
    try:
        segment = memoryview(mmap.mmap(fd, 0))
    finally:
        os.close(fd)
    buffers = [segment[start:stop] for start, stop in shipment.spans]
    del segment
    args = pickle.loads(shipment.pickled, buffers=buffers)
    del buffers
    return function(*args)
