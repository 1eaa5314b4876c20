"""Walk-forward windows (docs/simulation.md, Walk-forward): their arithmetic on bar counts,
their bounds and the progress they make; pure, so the API (counting and refusing) and the
engine (planning) agree. The request's `walk_forward` block (shared/walk_forward.py) is a
`WalkForwardPlan`."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

MIN_TRAIN_BARS = 50
MIN_TEST_BARS = 10
MAX_WINDOWS = 1_000
MAX_SET_WINDOWS = 10_000_000  # parameter sets x windows


class WalkForwardPlan(Protocol):
    """Train on `train_bars`, test on the next `test_bars`; anchored: train from bar 0."""

    @property
    def train_bars(self) -> int: ...
    @property
    def test_bars(self) -> int: ...
    @property
    def anchored(self) -> bool: ...


@dataclass(frozen=True)
class Window:
    """Walk-forward window `index`: bar ranges [from, to) of the optimization's data."""

    index: int
    train_from: int
    train_to: int
    test_from: int
    test_to: int


class WalkForwardRejected(ValueError):
    """The plan does not fit the data or the bounds; `field` is its path in the request."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def window_count(bars: int, plan: WalkForwardPlan) -> int:
    """Windows while a whole test window fits after the train bars."""
    fitting = bars - plan.train_bars - plan.test_bars
    return 0 if fitting < 0 else fitting // plan.test_bars + 1


def walk_forward_windows(bars: int, plan: WalkForwardPlan) -> list[Window]:
    """Window k trains on [k*test, k*test + train) (anchored: from bar 0) and tests on the
    next `test_bars`."""
    windows = []
    for k in range(window_count(bars, plan)):
        train_to = k * plan.test_bars + plan.train_bars
        train_from = 0 if plan.anchored else k * plan.test_bars
        windows.append(Window(k, train_from, train_to, train_to, train_to + plan.test_bars))
    return windows


def checked_window_count(bars: int, plan: WalkForwardPlan, sets: int) -> int:
    """The number of windows, or WalkForwardRejected when there are none or too many."""
    windows = window_count(bars, plan)
    if windows == 0:
        raise WalkForwardRejected(
            "walk_forward.train_bars",
            f"train_bars + test_bars exceed the {bars} stored bars of the range",
        )
    if windows > MAX_WINDOWS:
        raise WalkForwardRejected(
            "walk_forward.test_bars",
            f"{windows} windows over the {bars} stored bars; at most {MAX_WINDOWS:,}",
        )
    if sets * windows > MAX_SET_WINDOWS:
        raise WalkForwardRejected(
            "param_grid",
            f"{sets} parameter sets x {windows} windows = {sets * windows:,} set-windows;"
            f" at most {MAX_SET_WINDOWS:,}",
        )
    return windows


def progress_total(sets: int, windows: int | None) -> int:
    """Units of progress: one per parameter set run (on each train window), plus one per
    window's test run; `windows` None for a plain grid."""
    return sets if windows is None else windows * (sets + 1)


def chain_scales(final_equities: Sequence[float | None], initial_capital: float) -> list[float]:
    """The factor each test window's curve is scaled by when the windows are chained into one
    curve: each window starts again from the initial capital, so window k is scaled by the
    growth of the windows before it (a window with no bars leaves the growth as it was)."""
    scales, scale = [], 1.0
    for final in final_equities:
        scales.append(scale)
        if final is not None:
            scale *= final / initial_capital
    return scales
