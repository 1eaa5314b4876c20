"""How an optimization is cut into work: chunks of parameter sets (per walk-forward window).

Pure arithmetic on bar counts; the planner stores the result and workers take the chunks.
"""

import itertools
import math
from dataclasses import dataclass
from typing import Literal

from domain.optimization.walk_forward import Window

Stage = Literal["grid", "train", "test"]

# Work of one chunk in bar-evaluations (parameter sets x bars): big enough that loading the
# candles and computing the indicators once per chunk is cheap beside it, small enough (well
# under a second) that a cancel or a killed worker wastes little.
CHUNK_BAR_EVALUATIONS = 40_000_000
# An optimization is split into at least this many chunks when it has enough parameter sets,
# so that several workers share even a small one.
MIN_CHUNKS = 8
# No chunk is cut finer than this much work (4 sets on a year of 1-minute bars, some 25-70
# ms of simulation) unless there is less: each chunk also costs a message, a few statements
# and a hand-over to the pool (some 10 ms of CPU). A Bayesian search's batch, which is small,
# and the last chunks of a grid are cut down to it.
MIN_CHUNK_BAR_EVALUATIONS = 2_000_000
# A grid's chunks shrink toward its end, each at most this fraction of the sets still to cut
# and down to this fraction of a full chunk, so that its workers run out of work together:
# each holds a chunk more than its pool runs, and the last ones in hand are small rather than
# a full chunk one worker runs while another waits idle (each chunk more costs a few ms of
# CPU beside the pool's: a message and a few statements).
TAPER = 4


@dataclass(frozen=True)
class ChunkPlan:
    chunk: int
    stage: Stage
    window: int | None
    set_from: int
    set_to: int

    @property
    def sets(self) -> int:
        return self.set_to - self.set_from


def sets_per_chunk(sets: int, bars_per_set: int, groups: int = 1) -> int:
    """Parameter sets per chunk for `groups` grids of `sets` sets on `bars_per_set` bars."""
    by_work = math.ceil(CHUNK_BAR_EVALUATIONS / max(bars_per_set, 1))
    by_spread = sets * groups // MIN_CHUNKS
    return max(1, min(by_work, by_spread, sets))


def _split(sets: int, size: int) -> list[tuple[int, int]]:
    # Even pieces: 10 sets in chunks of at most 4 become 4, 3, 3 rather than 4, 4, 2.
    pieces = math.ceil(sets / size)
    bounds = [round(i * sets / pieces) for i in range(pieces + 1)]
    return list(itertools.pairwise(bounds))


def _least_sets(bars: int) -> int:
    """Parameter sets on `bars` bars that make a chunk worth its cost."""
    return math.ceil(MIN_CHUNK_BAR_EVALUATIONS / max(bars, 1))


def _tapered(sets: int, size: int, least: int) -> list[tuple[int, int]]:
    """Chunks of `size` sets, then of a `TAPER`-th of the sets left, down to a `TAPER`-th of
    `size` or `least`, whichever is more (the last two halved evenly when the last would hold
    fewer): sizes never grow."""
    least = min(size, max(least, math.ceil(size / TAPER)))
    sizes: list[int] = []
    left = sets
    while left:
        take = min(left, size, max(least, math.ceil(left / TAPER)))
        sizes.append(take)
        left -= take
    if len(sizes) >= 2 and sizes[-1] < least:
        pair = sizes.pop() + sizes.pop()
        sizes += [math.ceil(pair / 2), pair // 2]
    bounds = [0, *itertools.accumulate(sizes)]
    return list(itertools.pairwise(bounds))


def grid_chunks(sets: int, bars: int) -> list[ChunkPlan]:
    size = sets_per_chunk(sets, bars)
    pieces = _tapered(sets, size, _least_sets(bars))
    return [ChunkPlan(i, "grid", None, a, b) for i, (a, b) in enumerate(pieces)]


def walk_forward_chunks(sets: int, windows: list[Window]) -> list[ChunkPlan]:
    """Per window: train chunks over every set, then one test chunk (the window's best set)."""
    chunks: list[ChunkPlan] = []
    for window in windows:
        train_bars = window.train_to - window.train_from
        size = sets_per_chunk(sets, train_bars, len(windows))
        for a, b in _split(sets, size):
            chunks.append(ChunkPlan(len(chunks), "train", window.index, a, b))
        chunks.append(ChunkPlan(len(chunks), "test", window.index, 0, 1))
    return chunks


def batch_chunks(
    trials: int, bars: int, first_chunk: int, first_position: int, window: int | None
) -> list[ChunkPlan]:
    """A Bayesian search's batch of `trials` (evaluated trials numbered from
    `first_position`) as chunks numbered from `first_chunk`; a walk-forward window's search
    is its training."""
    stage: Stage = "grid" if window is None else "train"
    size = min(trials, max(sets_per_chunk(trials, bars), _least_sets(bars)))
    return [
        ChunkPlan(first_chunk + i, stage, window, first_position + a, first_position + b)
        for i, (a, b) in enumerate(_split(trials, size))
    ]
