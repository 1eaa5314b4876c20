"""Walk-forward windows and chunks as docs/simulation.md says; each set in exactly one chunk."""

import math

import pytest
from pydantic import ValidationError

from domain.optimization.plan import (
    MIN_CHUNK_BAR_EVALUATIONS,
    TAPER,
    batch_chunks,
    grid_chunks,
    sets_per_chunk,
    walk_forward_chunks,
)
from domain.optimization.walk_forward import (
    MAX_SET_WINDOWS,
    MAX_WINDOWS,
    WalkForwardRejected,
    Window,
    checked_window_count,
    progress_total,
    walk_forward_windows,
    window_count,
)
from shared.walk_forward import WalkForward


def test_rolling_windows_on_a_known_case() -> None:
    windows = walk_forward_windows(1000, WalkForward(train_bars=300, test_bars=150))
    assert windows == [
        Window(0, 0, 300, 300, 450),
        Window(1, 150, 450, 450, 600),
        Window(2, 300, 600, 600, 750),
        Window(3, 450, 750, 750, 900),
    ]


def test_anchored_windows_train_from_the_first_bar() -> None:
    windows = walk_forward_windows(900, WalkForward(train_bars=300, test_bars=150, anchored=True))
    assert [(w.train_from, w.train_to, w.test_to) for w in windows] == [
        (0, 300, 450),
        (0, 450, 600),
        (0, 600, 750),
        (0, 750, 900),  # the last test window ends exactly at the data's end
    ]


@pytest.mark.parametrize("bars", range(0, 200, 3))
@pytest.mark.parametrize(("train", "test"), [(50, 10), (70, 30), (60, 60), (51, 11)])
def test_the_window_count_is_the_listed_windows(bars: int, train: int, test: int) -> None:
    plan = WalkForward(train_bars=train, test_bars=test)
    windows = walk_forward_windows(bars, plan)
    assert len(windows) == window_count(bars, plan)
    assert all(w.test_to <= bars and w.test_to - w.test_from == test for w in windows)
    assert bars - (windows[-1].test_to if windows else 0) < test + (0 if windows else train)


@pytest.mark.parametrize(("field", "value"), [("train_bars", 49), ("test_bars", 9)])
def test_train_and_test_windows_have_a_minimum(field: str, value: int) -> None:
    with pytest.raises(ValidationError) as caught:
        WalkForward.model_validate({"train_bars": 50, "test_bars": 10, field: value})
    assert caught.value.errors()[0]["loc"] == (field,)


def test_walk_forward_bounds_name_the_field() -> None:
    plan = WalkForward(train_bars=50, test_bars=10)
    with pytest.raises(WalkForwardRejected) as few:
        checked_window_count(59, plan, 1)
    assert few.value.field == "walk_forward.train_bars" and "59 stored bars" in few.value.message
    bars_for = 50 + 10 * MAX_WINDOWS
    assert checked_window_count(bars_for, plan, 1) == MAX_WINDOWS
    with pytest.raises(WalkForwardRejected) as many:
        checked_window_count(bars_for + 10, plan, 1)
    assert many.value.field == "walk_forward.test_bars"
    assert checked_window_count(bars_for, plan, MAX_SET_WINDOWS // MAX_WINDOWS) == MAX_WINDOWS
    with pytest.raises(WalkForwardRejected) as heavy:
        checked_window_count(bars_for, plan, MAX_SET_WINDOWS // MAX_WINDOWS + 1)
    assert heavy.value.field == "param_grid"


@pytest.mark.parametrize("sets", [1, 2, 7, 8, 9, 100, 401])
@pytest.mark.parametrize("bars", [100, 525_600, 5_000_000])
def test_grid_chunks_cover_every_set_once(sets: int, bars: int) -> None:
    chunks = grid_chunks(sets, bars)
    covered = [i for c in chunks for i in range(c.set_from, c.set_to)]
    assert covered == list(range(sets))
    assert [c.chunk for c in chunks] == list(range(len(chunks)))
    assert sum(c.sets for c in chunks) == progress_total(sets, None) == sets
    # Spread over several workers when there are enough sets; no chunk bigger than the
    # work a chunk is cut to, and none growing along the grid.
    assert len(chunks) >= min(sets, 8)
    sizes = [c.sets for c in chunks]
    assert max(sizes) <= sets_per_chunk(sets, bars)
    assert sizes == sorted(sizes, reverse=True)


@pytest.mark.parametrize("sets", [9, 100, 400, 401, 5_000])
@pytest.mark.parametrize("bars", [100, 8_760, 525_600, 5_000_000])
def test_a_grid_s_last_chunks_are_a_share_of_the_sets_left(sets: int, bars: int) -> None:
    chunks = grid_chunks(sets, bars)
    size = sets_per_chunk(sets, bars)
    least = min(size, max(math.ceil(MIN_CHUNK_BAR_EVALUATIONS / bars), math.ceil(size / TAPER)))
    for c in chunks[:-2]:  # the last two may share what is left evenly
        left = sets - c.set_from
        assert c.sets == min(size, left, max(least, math.ceil(left / TAPER)))
    assert all(c.sets >= least // 2 for c in chunks)


def test_a_grid_on_a_year_of_minutes_shrinks_toward_its_end() -> None:
    sizes = [c.sets for c in grid_chunks(400, 525_600)]
    # From 200 sets left, a quarter of them a chunk, down to a quarter of a full chunk.
    assert sizes == [50, 50, 50, 50, 50, 38, 28, 21, 16, 13, 13, 11, 10]


def test_a_grid_whose_chunks_are_small_work_stays_evenly_cut() -> None:
    # A year of hours: 50 sets are less work than a chunk is worth, so none is cut finer.
    assert [c.sets for c in grid_chunks(400, 8_760)] == [50] * 8


def test_walk_forward_chunks_train_every_set_then_test_once_per_window() -> None:
    windows = walk_forward_windows(1000, WalkForward(train_bars=300, test_bars=150))
    chunks = walk_forward_chunks(7, windows)
    for window in windows:
        mine = [c for c in chunks if c.window == window.index]
        assert [c.stage for c in mine][-1] == "test"
        trained = [i for c in mine if c.stage == "train" for i in range(c.set_from, c.set_to)]
        assert trained == list(range(7))
    assert sum(c.sets for c in chunks) == progress_total(7, len(windows)) == len(windows) * 8


@pytest.mark.parametrize("trials", [1, 3, 16, 200])
@pytest.mark.parametrize("bars", [100, 8_760, 525_600, 5_000_000])
@pytest.mark.parametrize("window", [None, 2])
def test_a_batch_is_cut_into_chunks_of_enough_work_each(
    trials: int, bars: int, window: int | None
) -> None:
    chunks = batch_chunks(trials, bars, first_chunk=5, first_position=40, window=window)
    covered = [i for c in chunks for i in range(c.set_from, c.set_to)]
    assert covered == list(range(40, 40 + trials))
    assert [c.chunk for c in chunks] == list(range(5, 5 + len(chunks)))
    assert {c.stage for c in chunks} == {"grid" if window is None else "train"}
    assert {c.window for c in chunks} == {window}
    # Cut no finer than the least work a chunk is worth (to the evenness of the pieces), and
    # as a grid's chunks otherwise: spread over 8 when there is work enough, sizes differing
    # by at most one.
    least = math.ceil(MIN_CHUNK_BAR_EVALUATIONS / bars)
    assert len(chunks) == 1 or min(c.sets for c in chunks) >= least // 2
    assert max(c.sets for c in chunks) - min(c.sets for c in chunks) <= 1
    if trials >= 8 * least:
        assert len(chunks) >= 8


def test_a_batch_of_16_on_a_year_of_minutes_is_four_chunks_of_four() -> None:
    chunks = batch_chunks(16, 525_600, 0, 0, None)
    assert [(c.set_from, c.set_to) for c in chunks] == [(0, 4), (4, 8), (8, 12), (12, 16)]
