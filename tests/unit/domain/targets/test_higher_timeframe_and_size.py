"""`htf` against a slow aggregation loop, and the look-ahead it must not have; the perpetual
series; the `size` rule from signal bar to quantity."""

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from backtesting.test import GOOG
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.backtest import run_backtest
from domain.execution.config import BacktestConfig
from domain.execution.settings import ExecutionSettings
from domain.market.candles import Candles
from domain.market.intervals import close_time, floor_open_time
from domain.market.perp_market import perp_market
from domain.strategies.definitions import parse_definition
from domain.strategies.expressions import Comparison, Scope, parse_rule
from domain.targets.entry_sizes import sized_entries
from domain.targets.expression_rules import PositionRules, RuleEvaluator
from domain.targets.higher_timeframe import aggregate, bucket_open_times
from domain.targets.plugin_targets import look_ahead_violation

N = 1500
_frame = GOOG.iloc[:N]
# Hourly bars from Friday 2024-02-23 21:00 UTC: partial first 4-hour bar, day, week, month.
START = int(datetime(2024, 2, 23, 21, tzinfo=UTC).timestamp() * 1000)
TIMES = START + np.arange(N, dtype=np.int64) * 3_600_000
_o, _h, _l, _c, _v = (
    _frame[k].to_numpy(np.float64) for k in ("Open", "High", "Low", "Close", "Volume")
)
CANDLES = Candles(TIMES, _o, _h, _l, _c, _v, np.arange(N, dtype=np.float64))


def number(expression: str, candles: Candles = CANDLES) -> np.ndarray:
    node = parse_rule(f"{expression} > -1e300", "long_entry", Scope({}))
    assert isinstance(node, Comparison)
    value = RuleEvaluator(candles, "60").number(node.left)
    return np.broadcast_to(value, (len(candles),)).astype(np.float64)


def slow_htf(column: str, longer: str, reduce: str) -> list[float]:
    """Group bars by the longer candle holding their open time, reduce each group, and give
    bar t the group of the latest longer candle that closed at or before bar t closed."""
    groups: dict[int, list[int]] = {}
    for i, t in enumerate(TIMES):
        groups.setdefault(floor_open_time(int(t), longer), []).append(i)
    values = getattr(CANDLES, column)
    reduced = {
        start: {
            "first": values[bars[0]],
            "last": values[bars[-1]],
            "max": max(values[i] for i in bars),
            "min": min(values[i] for i in bars),
            "sum": sum(values[i] for i in bars),
        }[reduce]
        for start, bars in groups.items()
    }
    out = []
    for t in TIMES:
        bar_end = int(t) + 3_600_000
        ended = [s for s in reduced if close_time(s, longer) <= bar_end]
        out.append(reduced[max(ended)] if ended else math.nan)
    return out


@pytest.mark.parametrize(
    ("column", "reduce", "expression"),
    [
        ("close", "last", "close"),
        ("open", "first", "open"),
        ("high", "max", "high"),
        ("low", "min", "low"),
        ("volume", "sum", "volume"),
        ("turnover", "sum", "turnover"),
    ],
)
@pytest.mark.parametrize("longer", ["240", "720", "D", "W", "M"])
def test_htf_aggregates_completed_longer_bars(
    column: str, reduce: str, expression: str, longer: str
) -> None:
    got = number(f'htf({expression}, "{longer}")')
    np.testing.assert_allclose(got, slow_htf(column, longer, reduce), rtol=1e-12)


def test_htf_computes_its_argument_on_the_longer_bars() -> None:
    longer = aggregate(CANDLES, None, "60", "D")
    closes = longer.candles.close
    sma = [math.nan] * 4 + [sum(closes[i - 4 : i + 1]) / 5 for i in range(4, closes.size)]
    expected = longer.spread(np.array(sma))
    np.testing.assert_allclose(number('htf(sma(close, 5), "D")'), expected, rtol=1e-12)
    # The first day is partial (21:00 to 24:00) and counts as one of the five.
    assert longer.candles.open_time[0] == bucket_open_times(TIMES[:1], "D")[0]


def _peeking_targets(candles: Candles) -> np.ndarray:
    """RULE with htf reading the 4-hour bar still forming at each bar (its final value): the
    look-ahead the language forbids."""
    longer = aggregate(candles, None, "60", "240")
    trend = RuleEvaluator(longer.candles, "240").number(
        parse_rule("sma(close, 3) > 0", "x", Scope({})).left  # type: ignore[union-attr]
    )
    buckets = bucket_open_times(candles.open_time, "240")
    forming = np.searchsorted(longer.candles.open_time, buckets)
    peeked = np.asarray(trend)[forming]
    return (np.asarray(candles.close) > peeked).astype(np.int8)


RULE = 'close > htf(sma(close, 3), "240")'


def _honest_targets(candles: Candles) -> np.ndarray:
    definition = parse_definition({"long_entry": RULE})
    return RuleEvaluator(candles, "60").targets(PositionRules.of(definition), {}, "long_only")


def test_htf_sees_no_longer_bar_before_it_ends() -> None:
    honest = _honest_targets(CANDLES)
    peeking = _peeking_targets(CANDLES)
    # The look-ahead version trades differently on the same data...
    assert np.count_nonzero(honest != peeking) > 50
    # ...and the look-ahead guard of plugins catches it, while htf passes: cut short, the
    # data gives the same targets on every bar it still has.
    assert look_ahead_violation(_honest_targets, CANDLES, honest) is None
    reason = look_ahead_violation(_peeking_targets, CANDLES, peeking)
    assert reason is not None and reason.startswith("look-ahead:")
    # Every bar sees the longer bar that ended last, whatever the data after it.
    for cut in (7, 100, 1001):
        part = _honest_targets(CANDLES.select(np.arange(cut)))
        assert (part == honest[:cut]).all()


def test_funding_rate_is_the_rate_in_force_at_each_bars_end() -> None:
    hours = 3_600_000
    times = START - 8 * hours + np.arange(0, 60 * 8 * hours, 8 * hours, dtype=np.int64)
    rates = np.linspace(-0.001, 0.002, times.size)
    market = perp_market(CANDLES, "60", Candles.empty(), times, rates)
    node = parse_rule("funding_rate > -1", "x", Scope({}))
    assert isinstance(node, Comparison)
    got = np.asarray(RuleEvaluator(CANDLES, "60", market).number(node.left))
    for t in range(0, N, 7):
        end = int(TIMES[t]) + hours
        known = [r for s, r in zip(times, rates, strict=True) if s <= end]
        expected = known[-1] if known else math.nan
        assert got[t] == expected or (math.isnan(expected) and math.isnan(got[t]))
    # A bar ending exactly at a funding time already sees it.
    at = int(np.flatnonzero(TIMES + hours == times[5])[0])
    assert got[at] == rates[5]
    # The mark series fall back to the candle where no mark price is stored.
    for name in ("mark_open", "mark_high", "mark_low", "mark_close"):
        node = parse_rule(f"{name} > 0", "x", Scope({}))
        assert isinstance(node, Comparison)
        column = RuleEvaluator(CANDLES, "60", market).number(node.left)
        assert (column == getattr(CANDLES, name.removeprefix("mark_"))).all()


def slow_sized_entries(
    targets: list[int], sizes: list[float], trade_from: int
) -> tuple[list[int], list[float]]:
    acted, entry = list(targets[:trade_from]), [0.0] * trade_from
    held = 0
    for want, size in zip(targets[trade_from:], sizes[trade_from:], strict=True):
        share = 0.0
        if want == 0:
            held = 0
        elif want != held:
            if size > 0:
                held, share = want, size
            else:
                held = 0
        acted.append(held)
        entry.append(share)
    return acted, entry


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([-1, 0, 1]), st.sampled_from([0.0, 0.25, 1.0])),
        min_size=1,
        max_size=60,
    ),
    st.integers(0, 10),
)
def test_sized_entries_skip_bars_without_a_size(
    bars: list[tuple[int, float]], trade_from: int
) -> None:
    targets = [t for t, _ in bars]
    sizes = [s for _, s in bars]
    trade_from = min(trade_from, len(bars))
    acted, entry = sized_entries(np.array(targets, np.int8), np.array(sizes), trade_from)
    assert (acted.tolist(), entry.tolist()) == slow_sized_entries(targets, sizes, trade_from)


def _backtest(definition: Mapping[str, object], **execution: object) -> Any:
    parsed = parse_definition(definition)
    config = BacktestConfig(
        "expression",
        {},
        "60",
        ExecutionSettings(direction="long_short", **execution),  # type: ignore[arg-type]
        parsed.entry("expression"),
    )
    return run_backtest(CANDLES, config)


RULES = {
    "long_entry": "ema(close, 10) > ema(close, 30)",
    "short_entry": "ema(close, 10) < ema(close, 30)",
}


def test_a_size_of_one_changes_nothing_and_half_halves_the_first_quantity() -> None:
    plain = _backtest(RULES, fee_rate=0.0)
    one = _backtest({**RULES, "size": "1"}, fee_rate=0.0)
    half = _backtest({**RULES, "size": "0.5"}, fee_rate=0.0)
    assert one.trades.qty.tobytes() == plain.trades.qty.tobytes()
    assert one.equity.tobytes() == plain.equity.tobytes()
    assert half.trades.qty[0] == plain.trades.qty[0] * 0.5


def test_the_size_is_read_at_the_signal_bar_and_a_zero_skips_the_bar() -> None:
    rules = {**RULES, "size": "if_else(hour >= 12, hour / 24, 0)"}
    result = _backtest(rules, fee_rate=0.0)
    trades = result.trades
    assert len(trades) > 5
    cash = 10_000.0
    for i in range(len(trades)):
        signal_bar = int(np.searchsorted(TIMES, trades.entry_time[i])) - 1  # next_open fills
        hour = datetime.fromtimestamp(int(TIMES[signal_bar]) / 1000, UTC).hour
        assert hour >= 12
        assert trades.qty[i] == pytest.approx(cash * (hour / 24) / trades.entry_price[i], rel=1e-12)
        cash += trades.pnl[i]


def test_a_target_held_from_the_warm_up_enters_at_the_first_traded_bar_with_its_size() -> None:
    parsed = parse_definition({**RULES, "size": "if_else(hour >= 12, 0.5, 0.25)"})
    config = BacktestConfig(
        "expression",
        {},
        "60",
        ExecutionSettings(direction="long_short", fee_rate=0.0),
        parsed.entry("expression"),
    )
    for trade_from in (40, 41, 300, 777):
        result = run_backtest(CANDLES, config, trade_from=trade_from)
        trades = result.trades
        assert (trades.qty > 0).all()
        hour = datetime.fromtimestamp(int(TIMES[trade_from]) / 1000, UTC).hour
        if trades.entry_time[0] == TIMES[trade_from + 1]:  # held into the first traded bar
            share = 0.5 if hour >= 12 else 0.25
            assert trades.qty[0] == pytest.approx(10_000 * share / trades.entry_price[0])


def test_volatility_targeting_of_the_contract_runs() -> None:
    result = _backtest({**RULES, "size": "min(1, 0.01 / stdev(roc(close, 1), 30))"})
    assert len(result.trades) > 0
