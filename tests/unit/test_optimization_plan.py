"""Walk-forward windows and chunks as docs/simulation.md says; each set in exactly one chunk."""

import pytest

from services.api.routes.optimizations import walk_forward_windows as api_window_count
from services.engine.optimization.plan import (
    Window,
    grid_chunks,
    progress_total,
    walk_forward_chunks,
    walk_forward_windows,
)
from shared.optimization_spec import WalkForward


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


@pytest.mark.parametrize("bars", range(0, 60))
@pytest.mark.parametrize(("train", "test"), [(10, 5), (7, 3), (20, 20), (2, 1)])
def test_window_count_agrees_with_the_api(bars: int, train: int, test: int) -> None:
    plan = WalkForward(train_bars=train, test_bars=test)
    windows = walk_forward_windows(bars, plan)
    assert len(windows) == api_window_count(bars, plan)
    assert all(w.test_to <= bars and w.test_to - w.test_from == test for w in windows)


@pytest.mark.parametrize("sets", [1, 2, 7, 8, 9, 100, 401])
@pytest.mark.parametrize("bars", [100, 525_600, 5_000_000])
def test_grid_chunks_cover_every_set_once(sets: int, bars: int) -> None:
    chunks = grid_chunks(sets, bars)
    covered = [i for c in chunks for i in range(c.set_from, c.set_to)]
    assert covered == list(range(sets))
    assert [c.chunk for c in chunks] == list(range(len(chunks)))
    assert progress_total(chunks) == sets
    # Spread over several workers when there are enough sets; sizes differ by at most one.
    assert len(chunks) >= min(sets, 8)
    assert max(c.sets for c in chunks) - min(c.sets for c in chunks) <= 1


def test_walk_forward_chunks_train_every_set_then_test_once_per_window() -> None:
    windows = walk_forward_windows(1000, WalkForward(train_bars=300, test_bars=150))
    chunks = walk_forward_chunks(7, windows)
    for window in windows:
        mine = [c for c in chunks if c.window == window.index]
        assert [c.stage for c in mine][-1] == "test"
        trained = [i for c in mine if c.stage == "train" for i in range(c.set_from, c.set_to)]
        assert trained == list(range(7))
    assert progress_total(chunks) == len(windows) * (7 + 1)
