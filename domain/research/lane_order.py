"""The returns' `reassoc` sums in the order the loop vectorizer gave them, written out.

The returns' mean (for their moments) and the robustness block sums were loops compiled with
`reassoc`: LLVM summed them in 32 lanes (4 vectors of 8, value j into lane j % 32), added the 4
vectors, halved the 8 lanes down to one, then summed what was left in a shorter vector (8 or 4
lanes, its first lane started on the total so far) and the last few values one by one; below
a few values only the last step. The block sums' loads were gathers (the index's wraparound
check, vectorized), several times slower than the contiguous reads here, which add the same
values in the same order: the same bits.
"""

import numpy as np
import numpy.typing as npt

from domain.compiled_cache import njit

FloatArray = npt.NDArray[np.float64]

_LANES = 8
_WIDE = 32  # 4 vectors of 8 lanes

# What is summed of each value: itself; itself and its square; or, around a mean, the square,
# cube and fourth power of its deviation (as d², d·d², d²·d²).
VALUE, VALUE_AND_SQUARE, DEVIATION_POWERS = 0, 1, 2


@njit(cache=True, error_model="numpy", inline="always")
def _terms(kind: int, value: float, mean: float) -> tuple[float, float, float]:
    if kind == VALUE:
        return value, 0.0, 0.0
    if kind == VALUE_AND_SQUARE:
        return value, value * value, 0.0
    deviation = value - mean
    square = deviation * deviation
    return square, deviation * square, square * square


@njit(cache=True, error_model="numpy", inline="always")
def _halved(lanes: FloatArray, width: int) -> float:
    """The vector lanes[:width] (8 or 4 lanes) added down by halves."""
    if width == 8:
        h0, h1 = lanes[0] + lanes[4], lanes[1] + lanes[5]
        h2, h3 = lanes[2] + lanes[6], lanes[3] + lanes[7]
        eight: float = (h0 + h2) + (h1 + h3)
        return eight
    four: float = (lanes[0] + lanes[2]) + (lanes[1] + lanes[3])
    return four


@njit(cache=True, error_model="numpy", inline="always")
def _folded(lanes: FloatArray) -> float:
    """32 lanes: the 4 vectors added, then halved."""
    for lane in range(_LANES):
        lanes[lane] = ((lanes[lane] + lanes[lane + 8]) + lanes[lane + 16]) + lanes[lane + 24]
    return _halved(lanes, _LANES)


@njit(cache=True, error_model="numpy", inline="always")
def _add_runs(
    values: FloatArray,
    stop: int,
    width: int,
    kind: int,
    mean: float,
    lanes: tuple[FloatArray, FloatArray, FloatArray],
) -> None:
    """Value j of values[:stop] (a multiple of `width`) added to lane j % width. Indexed from
    the view's start, so the compiler reads whole vectors (not gathers)."""
    first, second, third = lanes
    for start in range(0, stop, width):
        run = values[start : start + width]
        for lane in range(width):
            a, b, c = _terms(kind, run[lane], mean)
            first[lane] += a
            second[lane] += b
            third[lane] += c


Lanes = tuple[FloatArray, FloatArray, FloatArray]


@njit(cache=True, error_model="numpy", inline="always")
def new_lanes() -> Lanes:
    """The 32 lanes of the three sums as the vector loop starts them (-0.0, which adding
    changes nothing, but the first lane's 0.0)."""
    lanes = (np.full(_WIDE, -0.0), np.full(_WIDE, -0.0), np.full(_WIDE, -0.0))
    for vector in lanes:
        vector[0] = 0.0
    return lanes


@njit(cache=True, error_model="numpy", inline="always")
def add_eight(lanes: FloatArray, run: FloatArray, index: int) -> None:
    """The 8 values of `run`, values[index:index + 8] (index a multiple of 8), added to their
    lanes of the 32: a pass that reads the values 8 at a time in any order of runs makes the
    lanes of `_lane_sums`' first step."""
    group = (index >> 3) & 3
    for lane in range(_LANES):
        lanes[group * _LANES + lane] += run[lane]


@njit(cache=True, error_model="numpy", inline="always")
def _lane_sums(
    values: FloatArray, kind: int, mean: float, tail_width: int, vector_from: int
) -> tuple[float, float, float]:
    """The three sums of `_terms` over `values` in the vectorizer's order: at least 32 values
    in 32 lanes, then whole vectors of `tail_width` lanes, then one by one; under
    `vector_from` values one by one only."""
    lanes = new_lanes()
    count = values.size
    if count >= _WIDE:
        _add_runs(values, count - count % _WIDE, _WIDE, kind, mean, lanes)
    return _finished(values, lanes, kind, mean, tail_width, vector_from)


@njit(cache=True, error_model="numpy", inline="always")
def _finished(
    values: FloatArray, lanes: Lanes, kind: int, mean: float, tail_width: int, vector_from: int
) -> tuple[float, float, float]:
    """`_lane_sums`, `lanes` holding its 32 lanes (`new_lanes` with the whole runs of 32
    values added, when there are any)."""
    count = values.size
    totals = np.zeros(3)
    done = 0
    if count >= vector_from:
        if count >= _WIDE:
            done = count - count % _WIDE
            totals[0], totals[1], totals[2] = (
                _folded(lanes[0]),
                _folded(lanes[1]),
                _folded(lanes[2]),
            )
        if count < _WIDE or count % _WIDE >= tail_width:
            for row in range(3):
                lanes[row][:tail_width] = -0.0
                lanes[row][0] = totals[row]
            tail = values[done:]
            stop = tail.size - tail.size % tail_width
            _add_runs(tail, stop, tail_width, kind, mean, lanes)
            totals[0], totals[1], totals[2] = (
                _halved(lanes[0], tail_width),
                _halved(lanes[1], tail_width),
                _halved(lanes[2], tail_width),
            )
            done += stop
    t0, t1, t2 = totals[0], totals[1], totals[2]
    for i in range(done, count):
        a, b, c = _terms(kind, values[i], mean)
        t0 += a
        t1 += b
        t2 += c
    return t0, t1, t2


@njit(cache=True, error_model="numpy")
def lane_mean(returns: FloatArray) -> float:
    """The mean of contiguous returns as the moments' `reassoc` sum found it (in lanes, a
    4-lane tail, vectors from 4 values)."""
    total: float = _lane_sums(returns, VALUE, 0.0, 4, 4)[0]
    return total / returns.size


@njit(cache=True, error_model="numpy", inline="always")
def lane_mean_from(returns: FloatArray, lanes: Lanes) -> float:
    """`lane_mean`, `lanes` holding the first lanes of the returns' sum (`add_eight` of every
    run of 8 below the last multiple of 32)."""
    total: float = _finished(returns, lanes, VALUE, 0.0, 4, 4)[0]
    return total / returns.size


@njit(cache=True, error_model="numpy", inline="always")
def moment_step(
    value: float, mean: float, m2: float, m3: float, m4: float
) -> tuple[float, float, float]:
    """The sums of the deviation's square, cube and fourth power moved on by one value: one
    by one, in order (that loop stayed scalar: its vector version was for a stride of one
    byte), so any pass that visits the returns in order may carry them."""
    deviation = value - mean
    square = deviation * deviation
    return m2 + square, m3 + square * deviation, m4 + square * square


@njit(cache=True, error_model="numpy")
def central_moments(returns: FloatArray) -> tuple[float, float, float, float]:
    """The mean and the population central moments m2, m3, m4 of contiguous returns, with the
    bits of the `reassoc` loops they were."""
    count = returns.size
    mean = lane_mean(returns)
    m2 = m3 = m4 = 0.0
    for value in returns:
        m2, m3, m4 = moment_step(value, mean, m2, m3, m4)
    return mean, m2 / count, m3 / count, m4 / count


@njit(cache=True, error_model="numpy")
def block_sums(returns: FloatArray, blocks: int) -> tuple[FloatArray, FloatArray]:
    """Per block of len // blocks contiguous returns, their sum and the sum of their squares,
    with the bits of the `reassoc` loop they were (an 8-lane tail, vectors from 8 values)."""
    length = returns.size // blocks
    sums = np.zeros(blocks)
    squares = np.zeros(blocks)
    for b in range(blocks):
        block = returns[b * length : (b + 1) * length]
        total, square, _ = _lane_sums(block, VALUE_AND_SQUARE, 0.0, _LANES, _LANES)
        sums[b] = total
        squares[b] = square
    return sums, squares
