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
other large arrays (a backtest's equity curve) are copied once into a room: a segment of its
own that the caller takes from its `Segments` and gives back once it has read the result,
so the next call reuses it, and a pool process that wrote into it before keeps it mapped
(mapping a fresh 4 MB room cost the pool more than copying into it). What a room does not
hold comes back through the pipe. The arguments' segment is reused the same way for a
function that keeps no view of its arguments (a backtest): the pool process then reads
candles from pages it has mapped already, and this process writes into pages it has too.
"""

import contextlib
import mmap
import os
import pickle
from collections import OrderedDict
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
_SIZE_STEP = 1 << 20  # kept segments are made in whole MB, so calls of about one size share them


@dataclass(frozen=True)
class Shipment:
    """Arguments pickled without their buffers, which are at `spans` of the segment; `room`
    names the segment for the result's arrays ("": none). `kept_mapped`: the arguments'
    segment is one the caller reuses, so the pool process keeps it mapped too."""

    pickled: bytes
    segment: str
    spans: tuple[tuple[int, int], ...]
    room: str
    kept_mapped: bool = False


# Where an array of the result lies: (which shipped argument buffer, its first byte there,
# the byte after its last), or (IN_ROOM, the room's bytes it was copied to).
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
    _room: SharedMemory | None = None

    def result(self, answer: Any) -> R:
        """`function`'s result from what the pool answered, read while the context is open."""
        if not isinstance(answer, Returned):  # not shipped: the result itself
            return answer  # type: ignore[no-any-return]
        buffers = [self._buffer(*where) for where in answer.buffers]
        return pickle.loads(answer.pickled, buffers=buffers)  # type: ignore[no-any-return]

    def _buffer(self, index: int, start: int, stop: int) -> memoryview | bytearray:
        if index != IN_ROOM:
            return self._arguments[index][start:stop]
        assert self._room is not None and self._room.buf is not None
        return bytearray(self._room.buf[start:stop])  # the room serves the next call


class Segments:
    """Segments reused call after call: taken for a call, given back once it is over (at
    most `kept` wait free; the largest stay). A pool process keeps the segments it was given
    mapped, so one given again has its pages mapped there already, and here too."""

    def __init__(self, kept: int) -> None:
        self.kept = kept
        self._free: list[SharedMemory] = []

    def take(self, size: int) -> SharedMemory | None:
        """The smallest free segment of at least `size` bytes, else a new one; None where
        /dev/shm cannot hold one."""
        fitting = [segment for segment in self._free if segment.size >= size]
        if fitting:
            segment = min(fitting, key=lambda f: f.size)
            self._free.remove(segment)
            return segment
        return _new_segment(-(-size // _SIZE_STEP) * _SIZE_STEP)

    def give_back(self, segment: SharedMemory) -> None:
        self._free.append(segment)
        self._free.sort(key=lambda f: f.size)
        while len(self._free) > self.kept:
            _remove(self._free.pop(0))

    def close(self) -> None:
        while self._free:
            _remove(self._free.pop())


@contextlib.contextmanager
def shipped(
    function: Callable[..., R],
    args: tuple[Any, ...],
    room: int = 0,
    rooms: Segments | None = None,
    arguments: Segments | None = None,
) -> Iterator[Shipped[R]]:
    """What to run in the pool for `function(*args)`: `(function, *args)` itself when the
    arrays in `args` are small, else `(call_shipped, function, Shipment)` with the arrays in
    a segment (from `arguments`, for a function that keeps no view of its arguments once it
    returns, as a backtest; else one for this call alone: a grid chunk's pool process keeps
    the candles), and a room of at least `room` bytes (from `rooms`, else one for this call)
    for the result's large arrays. Leaving the context normally says the call is over: the
    segments go back; leaving it by an exception (a timeout, a cancellation) removes them,
    as the call may still read and write them."""
    buffers: list[pickle.PickleBuffer] = []
    pickled = pickle.dumps(args, protocol=5, buffer_callback=buffers.append)
    views = [buffer.raw() for buffer in buffers]
    spans = []
    end = 0
    for view in views:
        start = -(-end // _ALIGNMENT) * _ALIGNMENT
        end = start + view.nbytes
        spans.append((start, end))
    taken: list[tuple[SharedMemory, Segments]] = []

    def take(size: int, kept: Segments | None) -> SharedMemory | None:
        kept = kept or Segments(kept=0)
        segment = kept.take(size)
        if segment is not None:
            taken.append((segment, kept))
        return segment

    segment = take(end, arguments) if end >= SHARED_FROM_BYTES else None
    if segment is None:  # small, or /dev/shm is missing or full
        yield Shipped((function, *args))
        return
    memory = segment.buf
    assert memory is not None  # open until given back or removed below
    over = False
    try:
        result_room = take(room, rooms) if room else None
        for view, (start, stop) in zip(views, spans, strict=True):
            memory[start:stop] = view
        shipment = Shipment(
            pickled,
            segment.name,
            tuple(spans),
            result_room.name if result_room else "",
            kept_mapped=arguments is not None,
        )
        yield Shipped((call_shipped, function, shipment), views, result_room)
        over = True
    finally:
        del memory
        for one, kept in taken:
            if over:
                kept.give_back(one)
            else:
                _remove(one)


def _new_segment(size: int) -> SharedMemory | None:
    """A new segment of `size` bytes, its pages allocated; None where /dev/shm is missing or
    cannot hold it."""
    if not _SEGMENTS.is_dir():
        return None
    segment = SharedMemory(create=True, size=size)
    if not _reserved(segment.name, size):  # /dev/shm is full (a container's is 64 MB)
        _remove(segment)
        return None
    return segment


def _remove(segment: SharedMemory) -> None:
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
    mapping = _kept(shipment.segment)[0] if shipment.kept_mapped else _mapped(shipment.segment)
    segment = memoryview(mapping)
    buffers = [segment[start:stop] for start, stop in shipment.spans]
    arguments = [(_address(view), view.nbytes) for view in buffers]
    args = pickle.loads(shipment.pickled, buffers=buffers)
    del buffers
    result = function(*args)
    del args
    within: list[Within] = []
    room, fresh = _kept(shipment.room) if shipment.room else (None, False)
    room_left = 0

    def in_band(buffer: pickle.PickleBuffer) -> bool:
        nonlocal room_left
        view = buffer.raw()
        where = _within(view, arguments)
        if where is None and room is not None and view.nbytes >= SHARED_FROM_BYTES:
            start = -(-room_left // _ALIGNMENT) * _ALIGNMENT
            if start + view.nbytes <= len(room):
                if fresh:
                    _prefault(room, start, start + view.nbytes)
                room[start : start + view.nbytes] = view
                room_left = start + view.nbytes
                where = IN_ROOM, start, room_left
        if where is not None:
            within.append(where)
        return where is None

    return Returned(pickle.dumps(result, protocol=5, buffer_callback=in_band), tuple(within))


def _mapped(name: str) -> mmap.mmap:
    return _mapped_file(name)[0]


def _mapped_file(name: str) -> tuple[mmap.mmap, int]:
    """The segment mapped, and its file's inode."""
    fd = os.open(_SEGMENTS / name.lstrip("/"), os.O_RDWR)
    try:
        return mmap.mmap(fd, 0), os.fstat(fd).st_ino
    finally:
        os.close(fd)


# In a pool process: the segments given to it to keep mapped (rooms, and the arguments of
# functions that keep no views of them), with their inodes, the latest last; those the
# caller has removed since are unmapped at the next call, so their memory goes.
_kept_mappings: OrderedDict[str, tuple[mmap.mmap, int]] = OrderedDict()
_KEPT_MAPPED = 8


def _kept(name: str) -> tuple[mmap.mmap, bool]:
    """The segment's mapping, and whether it is new here (its pages not mapped yet)."""
    for held, (_, inode) in list(_kept_mappings.items()):
        if _inode(held) != inode:  # removed (a later file may have drawn its name)
            _unmap(held)
    if name in _kept_mappings:
        _kept_mappings.move_to_end(name)
        return _kept_mappings[name][0], False
    _kept_mappings[name] = _mapped_file(name)
    while len(_kept_mappings) > _KEPT_MAPPED:
        _unmap(next(iter(_kept_mappings)))
    return _kept_mappings[name][0], True


def _inode(name: str) -> int | None:
    try:
        return os.stat(_SEGMENTS / name.lstrip("/")).st_ino
    except FileNotFoundError:
        return None


def _unmap(name: str) -> None:
    mapping, _ = _kept_mappings.pop(name)
    with contextlib.suppress(BufferError):  # a view left somewhere: unmapped when it goes
        mapping.close()


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
