"""Trailing stops and ATR stops on small hand-computed cases, and a property test against a
slow, obvious trailing stop."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import indicators
from domain.execution.settings import AtrMultiple
from tests.support.candles import MINUTE, bars, run

# Entry at 100 at bar 1's open in every case (target 1 from bar 0).


def test_a_trailing_stop_ratchets_up_and_is_hit_at_its_level() -> None:
    candles = bars(
        [
            (100, 100, 100, 100),
            (100, 104, 99, 103),  # fill at 100; level 90 this bar, 93.6 after it
            (103, 110, 102, 108),  # level 93.6; after it 99.0
            (108, 108, 98, 100),  # hit at 99.0
            (100, 100, 100, 100),
        ]
    )
    result = run(candles, [1] * 5, trailing_stop=0.1)
    trades = result.trades
    assert trades.exit_time[0] == 3 * MINUTE
    assert trades.exit_price[0] == pytest.approx(99.0)
    assert trades.records()[0]["exit_reason"] == "trailing_stop"
    assert trades.exit_counts() == {"trailing_stop": 1}


def test_the_open_fill_bar_high_does_not_move_its_own_level() -> None:
    # Bar 1 fills at 100, rises to 120 and falls to 91: with the bar's own high the level
    # would be 108 and hit; the level for bar 1 is 90 (from the fill price), so no exit.
    candles = bars([(100, 100, 100, 100), (100, 120, 91, 110), (110, 111, 107.5, 110)])
    result = run(candles, [1] * 3, trailing_stop=0.1)
    assert result.trades.exit_time[0] == 2 * MINUTE  # bar 2: level 108 from bar 1's high
    assert result.trades.exit_price[0] == pytest.approx(108.0)


def test_a_close_fill_bar_does_not_count_either() -> None:
    # Filled at bar 0's close (100); bar 0's high (130) came before the fill.
    candles = bars([(100, 130, 100, 100), (100, 101, 95, 100), (100, 100, 90, 95)])
    result = run(candles, [1] * 3, trailing_stop=0.08, fill="close")
    # Bar 1: level 92 (fill), no hit; bar 2: level 101 * 0.92 = 92.92, hit.
    assert result.trades.exit_time[0] == 2 * MINUTE
    assert result.trades.exit_price[0] == pytest.approx(101 * 0.92)


def test_a_gap_through_the_trailing_level_fills_at_the_open() -> None:
    candles = bars([(100, 100, 100, 100), (100, 110, 100, 109), (95, 96, 94, 95)])
    result = run(candles, [1] * 3, trailing_stop=0.05)
    assert result.trades.exit_price[0] == 95.0  # level 104.5, opened below it
    assert result.trades.records()[0]["exit_reason"] == "trailing_stop"


def test_the_nearer_of_stop_loss_and_trailing_stop_applies() -> None:
    rows = [(100, 100, 100, 100), (100, 101, 99, 101), (101, 120, 101, 119), (119, 119, 96, 97)]
    # After bar 2 the trail is at 120 * 0.9 = 108, above the stop loss at 97: the trail exits.
    result = run(bars(rows), [1] * 4, trailing_stop=0.1, stop_loss=0.03)
    assert result.trades.exit_price[0] == pytest.approx(108.0)
    assert result.trades.records()[0]["exit_reason"] == "trailing_stop"
    # Early on the stop loss (97) is nearer than the trail (90): the stop loss exits.
    early = [(100, 100, 100, 100), (100, 100, 96, 97), (97, 97, 97, 97)]
    result = run(bars(early), [1] * 3, trailing_stop=0.1, stop_loss=0.03)
    assert result.trades.exit_price[0] == pytest.approx(97.0)
    assert result.trades.records()[0]["exit_reason"] == "stop_loss"


def test_a_short_trails_the_lowest_low() -> None:
    candles = bars([(100, 100, 100, 100), (100, 101, 95, 96), (96, 100.5, 96, 100)])
    result = run(candles, [-1] * 3, trailing_stop=0.05, direction="short_only")
    # Level after bar 1: 95 * 1.05 = 99.75, hit in bar 2.
    assert result.trades.exit_price[0] == pytest.approx(99.75)
    assert result.trades.records()[0]["exit_reason"] == "trailing_stop"


ATR_ROWS = [(100.0, 102.0, 98.0, 100.0)] * 4 + [
    (100, 106, 100, 105),  # TR 6
    (105, 105, 104, 104.5),
    (104.5, 104.5, 90, 95),
    (95, 95, 95, 95),
]


def test_an_atr_stop_is_fixed_at_the_fill_from_the_previous_bar_for_an_open_fill() -> None:
    candles = bars(ATR_ROWS)
    atr = indicators.atr(candles.high, candles.low, candles.close, 3)
    targets = [0, 0, 0, 0, 1, 1, 1, 1]  # filled at bar 5's open (105)
    result = run(candles, targets, stop_loss=AtrMultiple(2.0), atr_period=3)
    level = 105 - 2 * atr[4]  # the ATR known at bar 5's open is bar 4's
    assert atr[4] != atr[5]
    assert result.trades.exit_time[0] == 6 * MINUTE
    assert result.trades.exit_price[0] == pytest.approx(level)
    assert result.warnings == ()


def test_an_atr_stop_for_a_close_fill_uses_the_bar_own_atr() -> None:
    candles = bars(ATR_ROWS)
    atr = indicators.atr(candles.high, candles.low, candles.close, 3)
    targets = [0, 0, 0, 0, 1, 1, 1, 1]  # filled at bar 4's close (105)
    result = run(candles, targets, stop_loss=AtrMultiple(1.5), atr_period=3, fill="close")
    assert result.trades.exit_price[0] == pytest.approx(105 - 1.5 * atr[4])


def test_an_atr_trailing_stop_keeps_its_distance() -> None:
    candles = bars(ATR_ROWS)
    atr = indicators.atr(candles.high, candles.low, candles.close, 3)
    result = run(candles, [0, 0, 0, 0, 1, 1, 1, 1], trailing_stop=AtrMultiple(1.0), atr_period=3)
    # Filled at bar 5's open (105); bar 5's high is 105, so the level stays 105 - ATR_4.
    assert result.trades.exit_price[0] == pytest.approx(105 - atr[4])
    assert result.trades.records()[0]["exit_reason"] == "trailing_stop"


def test_no_atr_yet_means_no_atr_stop_and_a_warning() -> None:
    candles = bars(ATR_ROWS)
    result = run(candles, [1] * 8, stop_loss=AtrMultiple(0.1), atr_period=14)
    assert result.trades.records()[0]["exit_reason"] == "end"
    assert result.warnings == ("1 trade had no ATR(14) yet at the fill, so no ATR stop",)


def slow_trailing_exit(
    rows: list[tuple[float, float, float, float]], fraction: float
) -> tuple[int, float] | None:
    """A long filled at bar 1's open, its trailing stop checked bar by bar."""
    fill = rows[1][0]
    best = fill
    for t in range(1, len(rows)):
        o, h, lo, _ = rows[t]
        level = best * (1 - fraction)
        if o <= level:
            return t, o
        if lo <= level:
            return t, level
        best = max(best, h)
    return None


@st.composite
def paths(draw: st.DrawFn) -> list[tuple[float, float, float, float]]:
    closes = draw(st.lists(st.floats(50, 150), min_size=3, max_size=40))
    rows, previous = [], 100.0
    for close in closes:
        gap = draw(st.floats(-3, 3))
        o = max(1.0, previous + gap)
        h = max(o, close) + draw(st.floats(0, 5))
        lo = max(0.5, min(o, close) - draw(st.floats(0, 5)))
        rows.append((o, h, lo, close))
        previous = close
    return rows


@settings(max_examples=300, deadline=None)
@given(paths(), st.floats(0.01, 0.5))
def test_the_trailing_stop_matches_a_slow_version_and_never_lowers(
    rows: list[tuple[float, float, float, float]], fraction: float
) -> None:
    result = run(bars(rows), [1] * len(rows), trailing_stop=fraction)
    expected = slow_trailing_exit(rows, fraction)
    trades = result.trades
    if expected is None:
        assert trades.records()[0]["exit_reason"] == "end"
        return
    bar, price = expected
    assert trades.exit_time[0] == bar * MINUTE
    assert trades.exit_price[0] == pytest.approx(price, rel=1e-12)
    # The exit is never below the level set by any earlier high: the level never went down.
    highs_before = [rows[1][0]] + [r[1] for r in rows[1:bar]]
    assert trades.exit_price[0] >= min(rows[bar][0], max(highs_before) * (1 - fraction)) - 1e-9
    assert not math.isnan(trades.exit_price[0])
