import numpy as np
import pytest

from domain.market.market_events import MARK_BLOCK, MarketEvents, market_events


def _columns(n: int, seed: int = 3) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    # A trend: a bar counted in a neighbouring block is out of its reach.
    open_ = 100.0 + 0.1 * np.arange(n) + rng.normal(0.0, 0.01, n)
    high = open_ + 0.01 * rng.random(n)
    low = open_ - 0.01 * rng.random(n)
    low[rng.random(n) < 0.05] = np.nan  # a missing mark never liquidates
    rate = np.where(rng.random(n) < 0.05, 1e-4, 0.0)
    inside = np.where(rng.random(n) < 0.05, -2e-4, 0.0)
    return open_, high, low, rate, inside


def _reaches(events: MarketEvents, open_: np.ndarray, high: np.ndarray, low: np.ndarray) -> None:
    """Every bar's mark lies within its block's reach."""
    blocks = (np.arange(open_.size) + events.block_offset) // MARK_BLOCK
    assert blocks.size == 0 or blocks[-1] < events.mark_lowest.size
    assert np.all(~(np.fmin(open_, low) < events.mark_lowest[blocks]))
    assert np.all(~(np.fmax(open_, high) > events.mark_highest[blocks]))


def test_the_reach_of_each_block_is_its_lowest_and_highest_mark_ignoring_missing_ones() -> None:
    open_, high, low, rate, inside = _columns(3 * MARK_BLOCK + 5)
    events = market_events(open_, high, low, rate, inside)
    assert events.mark_lowest.size == 4
    for block in range(4):
        bars = slice(block * MARK_BLOCK, (block + 1) * MARK_BLOCK)
        assert events.mark_lowest[block] == np.nanmin(np.fmin(open_[bars], low[bars]))
        assert events.mark_highest[block] == np.nanmax(np.fmax(open_[bars], high[bars]))
    assert events.funding_bars.tolist() == np.flatnonzero((rate != 0) | (inside != 0)).tolist()


def test_a_block_of_missing_marks_reaches_nothing() -> None:
    nan = np.full(MARK_BLOCK, np.nan)
    events = market_events(nan, nan, nan, np.zeros(MARK_BLOCK), np.zeros(MARK_BLOCK))
    assert events.mark_lowest.tolist() == [np.inf]
    assert events.mark_highest.tolist() == [-np.inf]


@pytest.mark.parametrize(
    ("start", "stop"), [(0, 300), (1, 300), (63, 64), (64, 200), (70, 71), (130, 130), (5, 299)]
)
def test_a_cut_keeps_each_bar_in_a_block_that_reaches_its_mark(start: int, stop: int) -> None:
    open_, high, low, rate, inside = _columns(300)
    whole = market_events(open_, high, low, rate, inside)
    cut = whole.between(start, stop)
    _reaches(cut, open_[start:stop], high[start:stop], low[start:stop])
    booked = whole.funding_bars
    assert (
        cut.funding_bars.tolist() == (booked[(booked >= start) & (booked < stop)] - start).tolist()
    )
    # A cut of a cut, as a walk-forward window of a chunk's bars.
    inner = cut.between(3, max(3, stop - start - 2))
    _reaches(
        inner, open_[start + 3 : stop - 2], high[start + 3 : stop - 2], low[start + 3 : stop - 2]
    )
