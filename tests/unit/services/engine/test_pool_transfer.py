"""A pool call's arguments through shared memory: the same values arrive, as aligned,
writeable views of the segment (numba compiles other array types apart), and the segment is
gone when the call is over; small arguments go as they are."""

from pathlib import Path

import numpy as np

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
    with shipped(_describe, (columns, "x")) as call:
        function, shipment = call[0], call[2]
        assert function is call_shipped and isinstance(shipment, Shipment)
        segment = Path("/dev/shm") / shipment.segment.lstrip("/")
        assert segment.exists()
        label, flags = call_shipped(*call[1:])
        assert label == "x"
        assert all(
            aligned and writeable and contiguous for aligned, writeable, contiguous, _ in flags
        )
        assert all(view for *_, view in flags[:3])  # views of the segment, not copies
        arrived: dict[str, np.ndarray] = call_shipped(_copies, shipment)
    assert not segment.exists()
    for name, column in columns.items():
        assert np.array_equal(arrived[name], column) and arrived[name].dtype == column.dtype


def test_small_arguments_go_as_they_are() -> None:
    small = np.arange(10.0)
    with shipped(np.sum, (small,)) as call:
        assert call[0] is np.sum and call[1] is small
    assert small.nbytes < pool_transfer.SHARED_FROM_BYTES
