"""The written-out sums add in the order they document (a plain Python reference), give the
bits of the `reassoc` loops they replaced (kept here, compiled as they were) where this host's
vectorizer picks that order, and the curve's pass carries the same moments."""

import numpy as np
import numpy.typing as npt
import pytest
from numba import njit

from domain.metrics.performance import curve_sums
from domain.research.lane_order import block_sums, central_moments

FloatArray = npt.NDArray[np.float64]


@njit(error_model="numpy", fastmath={"reassoc"})
def _reassoc_block_sums(returns: FloatArray, blocks: int) -> tuple[FloatArray, FloatArray]:
    length = returns.size // blocks
    sums = np.zeros(blocks)
    squares = np.zeros(blocks)
    for b in range(blocks):
        total = square = 0.0
        for i in range(b * length, (b + 1) * length):
            value = returns[i]
            total += value
            square += value * value
        sums[b] = total
        squares[b] = square
    return sums, squares


@njit(error_model="numpy", fastmath={"reassoc"})
def _reassoc_moments(returns: FloatArray) -> tuple[float, float, float, float]:
    count = returns.size
    mean = returns.sum() / count
    m2 = m3 = m4 = 0.0
    for value in returns:
        d = value - mean
        d2 = d * d
        m2 += d2
        m3 += d2 * d
        m4 += d2 * d2
    return mean, m2 / count, m3 / count, m4 / count


def _same_bits(a: object, b: object) -> bool:
    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return x.tobytes() == y.tobytes() or bool(
        np.array_equal(x, y, equal_nan=True) and (np.signbit(x) == np.signbit(y)).all()
    )


def _returns(rng: np.random.Generator, count: int) -> FloatArray:
    scale = float(rng.choice([1.0, 1e3, 1e-5]))
    returns: FloatArray = rng.normal(0.0, 1e-3 * scale, count)
    if count and rng.random() < 0.2:
        returns[rng.integers(0, count)] = float(rng.choice([np.nan, np.inf, -0.0]))
    return returns


def _reference_sum(values: list[float], tail_width: int, vector_from: int) -> float:
    """The documented order: 32 lanes (value j into lane j % 32, the first lane started on 0.0,
    the others on -0.0), the 4 vectors of 8 added, halved; then a `tail_width`-lane vector
    started on that; then one by one. Under `vector_from` values, one by one from 0.0."""
    count, total, done = len(values), 0.0, 0

    def halved(lanes: list[float]) -> float:
        while len(lanes) > 1:
            half = len(lanes) // 2
            lanes = [lanes[i] + lanes[i + half] for i in range(half)]
        return lanes[0]

    if count >= vector_from:
        if count >= 32:
            lanes = [0.0] + [-0.0] * 31
            done = count - count % 32
            for j in range(done):
                lanes[j % 32] += values[j]
            total = halved(
                [((lanes[k] + lanes[k + 8]) + lanes[k + 16]) + lanes[k + 24] for k in range(8)]
            )
        if count < 32 or count % 32 >= tail_width:
            tail = [total] + [-0.0] * (tail_width - 1)
            stop = count - (count - done) % tail_width
            for j in range(done, stop):
                tail[(j - done) % tail_width] += values[j]
            total, done = halved(tail), stop
    for j in range(done, count):
        total += values[j]
    return total


@pytest.mark.parametrize("count", [*range(0, 80), 100, 127, 1000, 4099])
def test_the_sums_follow_the_documented_order(count: int) -> None:
    rng = np.random.default_rng(count)
    returns = rng.normal(0.0, 1.0, count) * 10.0 ** rng.integers(-8, 8, count)
    values = returns.tolist()
    blocks = 3
    length = count // blocks
    sums, squares = block_sums(returns, blocks)
    for b in range(blocks):
        block = values[b * length : (b + 1) * length]
        assert _same_bits(sums[b], _reference_sum(block, 8, 8))
        assert _same_bits(squares[b], _reference_sum([v * v for v in block], 8, 8))
    if count:
        mean = _reference_sum(values, 4, 4) / count
        assert _same_bits(central_moments(returns)[0], mean)


LENGTHS = [*range(1, 130), 255, 256, 257, 1000, 4099, 32_850 * 16 + 7, 525_600]


@pytest.mark.parametrize("seed", [1, 2])
def test_block_sums_and_moments_have_the_reassoc_loops_bits(seed: int) -> None:
    probe = (
        np.random.default_rng(0).normal(0.0, 1.0, 1000) * 10.0 ** np.arange(-8, 8).repeat(63)[:1000]
    )
    if not _same_bits(_reassoc_block_sums(probe, 1)[0], block_sums(probe, 1)[0]):
        pytest.skip("this host's vectorizer sums `reassoc` loops in another order than 8 x 4 lanes")
    rng = np.random.default_rng(seed)
    for count in LENGTHS:
        returns = _returns(rng, count)
        with np.errstate(all="ignore"):
            for blocks in (1, 3, 7, 16):
                want, got = _reassoc_block_sums(returns, blocks), block_sums(returns, blocks)
                assert _same_bits(want[0], got[0]) and _same_bits(want[1], got[1]), count
            assert _same_bits(_reassoc_moments(returns), central_moments(returns)), count


def test_the_curve_pass_carries_the_same_moments() -> None:
    rng = np.random.default_rng(3)
    for count in [*range(0, 70), 1000, 40_001, 525_600]:
        equity = 1e4 * np.cumprod(1.0 + rng.normal(0.0, 1e-3, count))
        curve = curve_sums(equity, 1e4)
        if count:
            assert _same_bits(curve.central, central_moments(curve.returns)), count
