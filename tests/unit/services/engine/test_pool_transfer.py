"""A pool call's arguments through shared memory: the same values arrive, as aligned,
writeable views of the segment (numba compiles other array types apart), and the segment is
gone when the call is over; small arguments go as they are. The result's arrays that view
an argument come back as views of the caller's own array; the others as copies."""

import pickle
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest

from services.engine import pool_transfer
from services.engine.pool_transfer import Shipment, call_shipped, shipped

Flags = tuple[bool, bool, bool, bool]


def _describe(columns: dict[str, np.ndarray], label: str) -> tuple[str, list[Flags]]:
    flags = [
        (c.flags.aligned, c.flags.writeable, c.flags.c_contiguous, c.base is not None)
        for c in columns.values()
    ]
    return label, flags


def _copies(columns: dict[str, np.ndarray], _: str) -> dict[str, np.ndarray]:
    return {name: column.copy() for name, column in columns.items()}


def test_large_arrays_arrive_as_aligned_writeable_views_and_the_segment_goes() -> None:
    rng = np.random.default_rng(3)
    columns: dict[str, np.ndarray] = {
        "times": np.arange(300_000, dtype=np.int64),
        "close": rng.random(300_000),
        "sides": rng.integers(-1, 2, 333).astype(np.int8),  # odd sizes: the next is realigned
        "strided": rng.random(1_000)[::2],  # not contiguous: pickled in-band
    }
    with shipped(_describe, (columns, "x")) as sent:
        function, shipment = sent.call[0], sent.call[2]
        assert function is call_shipped and isinstance(shipment, Shipment)
        segment = Path("/dev/shm") / shipment.segment.lstrip("/")
        assert segment.exists()
        label, flags = sent.result(call_shipped(*sent.call[1:]))
        assert label == "x"
        assert all(
            aligned and writeable and contiguous for aligned, writeable, contiguous, _ in flags
        )
        assert all(view for *_, view in flags[:3])  # views of the segment, not copies
        arrived = cast(dict[str, np.ndarray], sent.result(call_shipped(_copies, shipment)))
    assert not segment.exists()
    for name, column in columns.items():
        assert np.array_equal(arrived[name], column) and arrived[name].dtype == column.dtype


def _tail_and_new(
    times: np.ndarray, start: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return times[start:], times[start : start + 10] * 2, times[start:] * 3.0, np.zeros(0)


@pytest.mark.parametrize("room", [0, 2_400_000, 1_000_000])
def test_result_arrays_come_back_as_views_of_the_callers_array_or_through_the_room(
    room: int,
) -> None:
    """A result array viewing an argument comes back as a view of the caller's own array;
    a large new one through the room the caller kept when it fits, else through the pipe."""
    times = np.arange(300_000, dtype=np.int64)
    with shipped(_tail_and_new, (times, 1_000), room) as sent:
        answer = call_shipped(*sent.call[1:])
        tail, doubled, tripled, empty = sent.result(answer)
    sent_back = len(pickle.dumps(answer))
    assert sent_back < 10_000 if room >= tripled.nbytes else sent_back > tripled.nbytes
    assert np.shares_memory(tail, times) and np.array_equal(tail, times[1_000:])
    assert not np.shares_memory(doubled, times) and doubled.flags.writeable
    assert np.array_equal(doubled, times[1_000:1_010] * 2) and empty.size == 0
    assert tripled.flags.writeable and np.array_equal(tripled, times[1_000:] * 3.0)


def test_small_arguments_go_as_they_are() -> None:
    small = np.arange(10.0)
    with shipped(np.sum, (small,)) as sent:
        assert sent.call[0] is np.sum and sent.call[1] is small
        assert sent.result(45.0) == 45.0
    assert small.nbytes < pool_transfer.SHARED_FROM_BYTES


def _shipment(sent: pool_transfer.Shipped[Any]) -> Shipment:
    shipment = sent.call[2]
    assert isinstance(shipment, Shipment)
    return shipment


def _room_name(sent: pool_transfer.Shipped[Any]) -> str:
    return _shipment(sent).room


def _exists(name: str) -> bool:
    return (Path("/dev/shm") / name.lstrip("/")).exists()


def test_a_room_serves_call_after_call_once_read_and_goes_when_a_call_fails() -> None:
    """A room given back is the next call's (a pool process keeps it mapped); one whose call
    ended by an exception (it may still be written) is removed; at most `kept` wait free."""
    times = np.arange(300_000, dtype=np.int64)
    rooms = pool_transfer.Segments(kept=1)
    names = []
    for start in (1_000, 2_000):
        with shipped(_tail_and_new, (times, start), 2_400_000, rooms) as sent:
            names.append(_room_name(sent))
            _, _, tripled, _ = sent.result(call_shipped(*sent.call[1:]))
        assert np.array_equal(tripled, times[start:] * 3.0)  # each call's own values
    assert names[0] == names[1] and (Path("/dev/shm") / names[0].lstrip("/")).exists()
    assert pool_transfer._kept(names[0])[1] is False  # mapped in this process already
    with pytest.raises(TimeoutError), shipped(_tail_and_new, (times, 5), 2_400_000, rooms) as sent:
        assert _room_name(sent) == names[0]
        raise TimeoutError
    assert not (Path("/dev/shm") / names[0].lstrip("/")).exists()
    with (
        shipped(_tail_and_new, (times, 5), 2_400_000, rooms) as first,
        shipped(_tail_and_new, (times, 5), 2_400_000, rooms) as second,
    ):
        held = [_room_name(first), _room_name(second)]
        assert held[0] != held[1] and names[0] not in held
    present = [(Path("/dev/shm") / name.lstrip("/")).exists() for name in held]
    assert sorted(present) == [False, True]  # one kept free, the other removed
    rooms.close()
    assert not any((Path("/dev/shm") / name.lstrip("/")).exists() for name in held)


def test_the_arguments_segment_serves_the_next_call_with_its_own_values() -> None:
    """For a function that keeps no view of its arguments: the segment given back carries the
    next call's arguments (the pool process keeps it mapped); without `arguments`, each call
    has a fresh segment, removed when it is over."""
    arguments = pool_transfer.Segments(kept=1)
    names = []
    for seed in (1, 2):
        close = np.random.default_rng(seed).random(300_000)
        with shipped(np.sum, (close,), arguments=arguments) as sent:
            shipment = _shipment(sent)
            assert shipment.kept_mapped
            names.append(shipment.segment)
            assert sent.result(call_shipped(*sent.call[1:])) == np.sum(close)
    assert names[0] == names[1] and _exists(names[0])
    assert pool_transfer._kept(names[0])[1] is False  # mapped in this process already
    arguments.close()
    assert not _exists(names[0])
    with shipped(np.sum, (np.ones(300_000),), arguments=arguments) as sent:
        assert sent.result(call_shipped(*sent.call[1:])) == 300_000.0
    assert names[0] not in pool_transfer._kept_mappings  # removed: unmapped at the next call
    arguments.close()
    with shipped(np.sum, (np.ones(300_000),)) as sent:
        fresh = _shipment(sent)
        assert not fresh.kept_mapped and fresh.segment != names[0]
        assert sent.result(call_shipped(*sent.call[1:])) == 300_000.0
    assert not _exists(fresh.segment)
