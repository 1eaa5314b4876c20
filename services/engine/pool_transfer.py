"""A pool call's large arrays through shared memory instead of the pool's pipe.

Pickled into the pipe, a year of 1-minute candles and their perpetual market (about 40 MB)
was copied four times and took longer than the backtest. Here the arguments are pickled with
their arrays left out (protocol 5's out-of-band buffers), the arrays' bytes are copied once
into a shared memory segment, and the pool process unpickles arrays that are views of it.

The engine process creates the segment (POSIX shared memory, under /dev/shm on Linux; its
resource tracker removes what a killed engine leaves) and unlinks it when the call is over.
The pool process maps it as a file, and the mapping goes when the last array viewing it does
(a pool cache may hold one until its next call). Where /dev/shm is missing or full, the
arguments go through the pipe.

The result comes back pickled the same way: its arrays that view a shipped argument (a
backtest's bar times are the candles' own) come back as where they lie in it, and the engine
process reads them from its own copy of that argument (pool functions read their arguments,
never write them), so they are sent neither way. Its
other large arrays (a backtest's equity curve) are copied once into room the caller kept at
the segment's end, as far as it holds them; the rest comes back through the pipe.
"""

import contextlib
import mmap
import os
import pickle
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.shared_memory import SharedMemory
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np

R = TypeVar("R")
# Smaller arguments go through the pipe as they are: a segment costs a few system calls.
SHARED_FROM_BYTES = 1 << 20
_ALIGNMENT = 64  # each array at a cache line (numba compiles aligned and unaligned apart)
_SEGMENTS = Path("/dev/shm")


@dataclass(frozen=True)
class Shipment:
    """Arguments pickled without their buffers, which are at `spans` of the segment; the
    bytes from `room` on are for the result."""

    pickled: bytes
    segment: str
    spans: tuple[tuple[int, int], ...]
    room: int


# Where an array of the result lies: (which shipped argument buffer, its first byte there,
# the byte after its last), or (IN_ROOM, the segment's bytes it was copied to).
Within = tuple[int, int, int]
IN_ROOM = -1


@dataclass(frozen=True)
class Returned:
    """A shipped call's result pickled with its arrays in it but those that view a shipped
    argument, which are where they lie in it."""

    pickled: bytes
    buffers: tuple[Within, ...]


@dataclass(frozen=True)
class Shipped(Generic[R]):
    """What to run in the pool for `function(*args)` (`call`: a callable and its arguments),
    and how its answer becomes `function`'s result."""

    call: tuple[Any, ...]
    _arguments: Sequence[memoryview] = ()
    _segment: memoryview | None = None

    def result(self, answer: Any) -> R:
        """`function`'s result from what the pool answered, read while the context is open."""
        if not isinstance(answer, Returned):  # not shipped: the result itself
            return answer  # type: ignore[no-any-return]
        buffers = [self._buffer(*where) for where in answer.buffers]
        return pickle.loads(answer.pickled, buffers=buffers)  # type: ignore[no-any-return]

    def _buffer(self, index: int, start: int, stop: int) -> memoryview | bytearray:
        if index != IN_ROOM:
            return self._arguments[index][start:stop]
        assert self._segment is not None
        return bytearray(self._segment[start:stop])  # the segment goes with the context


@contextlib.contextmanager
def shipped(
    function: Callable[..., R], args: tuple[Any, ...], room: int = 0
) -> Iterator[Shipped[R]]:
    """What to run in the pool for `function(*args)`: `(function, *args)` itself when the
    arrays in `args` are small, else `(call_shipped, function, Shipment)` with the arrays
    in a segment that lives until the context exits, and `room` bytes more in it for the
    result's large arrays."""
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
        yield Shipped((function, *args))
        return
    room_from = -(-end // _ALIGNMENT) * _ALIGNMENT
    end = room_from + room
    segment = SharedMemory(create=True, size=end)
    if not _reserved(segment.name, end):  # /dev/shm is full (a container's is 64 MB)
        segment.close()
        segment.unlink()
        yield Shipped((function, *args))
        return
    memory = segment.buf
    assert memory is not None  # open until closed below
    try:
        for view, (start, stop) in zip(views, spans, strict=True):
            memory[start:stop] = view
        shipment = Shipment(pickled, segment.name, tuple(spans), room_from)
        yield Shipped((call_shipped, function, shipment), views, memory)
    finally:
        del memory
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


def call_shipped(function: Callable[..., Any], shipment: Shipment) -> Returned:
    """In a pool process: `function` called with the shipped arguments, its result as
    `Shipped.result` takes it."""
    fd = os.open(_SEGMENTS / shipment.segment.lstrip("/"), os.O_RDWR)
    try:
        mapping = mmap.mmap(fd, 0)
    finally:
        os.close(fd)
    segment = memoryview(mapping)
    buffers = [segment[start:stop] for start, stop in shipment.spans]
    arguments = [(_address(view), view.nbytes) for view in buffers]
    args = pickle.loads(shipment.pickled, buffers=buffers)
    del buffers
    result = function(*args)
    del args
    within: list[Within] = []
    room_left = shipment.room

    def in_band(buffer: pickle.PickleBuffer) -> bool:
        nonlocal room_left
        view = buffer.raw()
        where = _within(view, arguments)
        if where is None and view.nbytes >= SHARED_FROM_BYTES:
            start = -(-room_left // _ALIGNMENT) * _ALIGNMENT
            if start + view.nbytes <= segment.nbytes:
                _prefault(mapping, start, start + view.nbytes)
                segment[start : start + view.nbytes] = view
                room_left = start + view.nbytes
                where = IN_ROOM, start, room_left
        if where is not None:
            within.append(where)
        return where is None

    return Returned(pickle.dumps(result, protocol=5, buffer_callback=in_band), tuple(within))


# Linux 5.14's madvise: the pages of a range mapped for writing in one call, at about half
# the cost of faulting them in one by one as a copy writes them.
_MADV_POPULATE_WRITE = getattr(mmap, "MADV_POPULATE_WRITE", 23)


def _prefault(mapping: mmap.mmap, start: int, stop: int) -> None:
    first = start - start % mmap.PAGESIZE
    with contextlib.suppress(OSError, ValueError):  # an older kernel: faulted as written
        mapping.madvise(_MADV_POPULATE_WRITE, first, stop - first)


def _address(view: memoryview) -> int:
    return int(np.frombuffer(view, np.uint8).ctypes.data) if view.nbytes else 0


def _within(view: memoryview, arguments: list[tuple[int, int]]) -> Within | None:
    """Where `view` lies within one of the arguments' buffers (at their addresses, of their
    sizes), if it does."""
    address = _address(view)
    for index, (first, size) in enumerate(arguments):
        if view.nbytes and first <= address and address + view.nbytes <= first + size:
            return index, address - first, address - first + view.nbytes
    return None
