"""A pool call's large arrays through shared memory instead of the pool's pipe.

Pickled into the pipe, a year of 1-minute candles and their perpetual market (about 40 MB)
was copied four times and took longer than the backtest. Here the arguments are pickled with
their arrays left out (protocol 5's out-of-band buffers), the arrays' bytes are copied once
into a shared memory segment, and the pool process unpickles arrays that are views of it.

The engine process creates the segment and unlinks it when the call is over; the pool
process unmaps it once nothing there holds a view of it any more (a result may still hold
one while it is sent back, a pool cache for the next call).
"""

import contextlib
import pickle
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.shared_memory import SharedMemory
from typing import Any, TypeVar

R = TypeVar("R")
# Smaller arguments go through the pipe as they are: a segment costs a few system calls.
SHARED_FROM_BYTES = 1 << 20
_ALIGNMENT = 64  # each array at a cache line (numba compiles aligned and unaligned apart)


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
    if end < SHARED_FROM_BYTES:
        yield (function, *args)
        return
    segment = SharedMemory(create=True, size=end)
    try:
        for view, (start, stop) in zip(views, spans, strict=True):
            segment.buf[start:stop] = view
        yield (call_shipped, function, Shipment(pickled, segment.name, tuple(spans)))
    finally:
        segment.close()
        segment.unlink()


# Segments this pool process has mapped and not yet unmapped.
_mapped: list[SharedMemory] = []


def call_shipped(function: Callable[..., R], shipment: Shipment) -> R:
    """In a pool process: `function` called with the shipped arguments."""
    _unmap_unused()
    segment = SharedMemory(shipment.segment)
    _mapped.append(segment)
    buffers = [segment.buf[start:stop] for start, stop in shipment.spans]
    args = pickle.loads(shipment.pickled, buffers=buffers)
    del buffers
    return function(*args)


def _unmap_unused() -> None:
    for segment in list(_mapped):
        try:
            segment.close()
        except BufferError:  # an array of it is still alive
            continue
        _mapped.remove(segment)
