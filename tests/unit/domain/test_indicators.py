"""Indicators against plain-Python textbook loops (and pandas where it has the same formula)."""

import math

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
import pytest
from backtesting.test import EURUSD, GOOG

from domain import indicators

RTOL = 1e-9
CLOSES = {
    "EURUSD": EURUSD["Close"].to_numpy(np.float64)[:1500],
    "GOOG": GOOG["Close"].to_numpy(np.float64),
}


def ref_sma(x: list[float], n: int) -> list[float]:
    return [math.nan if i < n - 1 else sum(x[i - n + 1 : i + 1]) / n for i in range(len(x))]


def ref_ema(x: list[float], n: int) -> list[float]:
    out = [math.nan] * len(x)
    first = next((i for i, v in enumerate(x) if not math.isnan(v)), len(x))
    if first + n - 1 >= len(x):
        return out
    out[first + n - 1] = sum(x[first : first + n]) / n
    alpha = 2 / (n + 1)
    for i in range(first + n, len(x)):
        out[i] = alpha * x[i] + (1 - alpha) * out[i - 1]
    return out


def ref_rsi(x: list[float], n: int) -> list[float]:
    out = [math.nan] * len(x)
    changes = [x[i] - x[i - 1] for i in range(1, len(x))]
    if len(changes) < n:
        return out
    gain = sum(max(c, 0.0) for c in changes[:n]) / n
    loss = sum(max(-c, 0.0) for c in changes[:n]) / n
    for i in range(n, len(x)):
        if i > n:
            c = changes[i - 1]
            gain = (gain * (n - 1) + max(c, 0.0)) / n
            loss = (loss * (n - 1) + max(-c, 0.0)) / n
        out[i] = 50.0 if gain + loss == 0 else 100 - 100 / (1 + gain / loss) if loss else 100.0
    return out


def ref_std(x: list[float], n: int) -> list[float]:
    out = [math.nan] * len(x)
    for i in range(n - 1, len(x)):
        window = x[i - n + 1 : i + 1]
        mean = sum(window) / n
        out[i] = math.sqrt(sum((v - mean) ** 2 for v in window) / n)
    return out


def close(a: np.ndarray, b: list[float]) -> None:
    np.testing.assert_allclose(a, np.array(b), rtol=RTOL, atol=1e-12, equal_nan=True)


@pytest.mark.parametrize("name", CLOSES)
@pytest.mark.parametrize("n", [1, 2, 10, 30, 200])
def test_sma_and_ema_are_the_textbook_formulas(name: str, n: int) -> None:
    x = CLOSES[name]
    close(indicators.sma(x, n), ref_sma(list(x), n))
    close(indicators.ema(x, n), ref_ema(list(x), n))


@pytest.mark.parametrize("n", [2, 14, 50])
def test_ema_equals_pandas_ewm_after_the_sma_seed(n: int) -> None:
    x = CLOSES["GOOG"]
    seeded = x[n - 1 :].copy()
    seeded[0] = x[:n].mean()
    expected = pd.Series(seeded).ewm(span=n, adjust=False).mean().to_numpy()
    np.testing.assert_allclose(indicators.ema(x, n)[n - 1 :], expected, rtol=RTOL)
    assert np.isnan(indicators.ema(x, n)[: n - 1]).all()


@pytest.mark.parametrize("name", CLOSES)
@pytest.mark.parametrize("n", [2, 14, 30])
def test_rsi_is_wilders(name: str, n: int) -> None:
    x = CLOSES[name]
    got = indicators.rsi(x, n)
    close(got, ref_rsi(list(x), n))
    assert np.isnan(got[:n]).all() and not np.isnan(got[n:]).any()


def test_rsi_edge_values() -> None:
    rising = np.arange(30, dtype=np.float64)
    assert np.all(indicators.rsi(rising, 14)[14:] == 100.0)
    assert np.all(indicators.rsi(rising[::-1].copy(), 14)[14:] == 0.0)
    assert np.all(indicators.rsi(np.full(30, 5.0), 14)[14:] == 50.0)
    assert np.isnan(indicators.rsi(rising[:14], 14)).all()


@pytest.mark.parametrize("name", CLOSES)
@pytest.mark.parametrize(("n", "k"), [(2, 1.0), (20, 2.0), (50, 2.5)])
def test_bollinger_uses_population_std(name: str, n: int, k: float) -> None:
    x = CLOSES[name]
    lower, middle, upper = indicators.bollinger(x, n, k)
    mean = ref_sma(list(x), n)
    std = ref_std(list(x), n)
    close(middle, mean)
    close(upper, [m + k * s for m, s in zip(mean, std, strict=True)])
    close(lower, [m - k * s for m, s in zip(mean, std, strict=True)])
    # pandas keeps running sums, so it is only close (it leaves ~1e-9 where the spread is 0).
    pandas_std = pd.Series(x).rolling(n).std(ddof=0).to_numpy()
    np.testing.assert_allclose(
        (upper - middle) / k, pandas_std, rtol=1e-6, atol=1e-8, equal_nan=True
    )


@pytest.mark.parametrize("n", [1, 3, 20, 7, 100])
def test_donchian_is_the_previous_n_bars(n: int) -> None:
    high = GOOG["High"].to_numpy(np.float64)[:600]
    low = GOOG["Low"].to_numpy(np.float64)[:600]
    upper, lower = indicators.donchian(high, low, n)
    for t in range(len(high)):
        if t < n:
            assert math.isnan(upper[t]) and math.isnan(lower[t])
        else:
            assert upper[t] == max(high[t - n : t])
            assert lower[t] == min(low[t - n : t])


def test_donchian_window_longer_than_data() -> None:
    upper, lower = indicators.donchian(np.arange(5.0), np.arange(5.0), 5)
    assert np.isnan(upper).all() and np.isnan(lower).all()
    upper, _ = indicators.donchian(np.arange(5.0), np.arange(5.0), 4)
    assert upper[4] == 3.0


def test_macd_line_and_signal() -> None:
    x = CLOSES["GOOG"]
    line, signal = indicators.macd(x, 12, 26, 9)
    # TA-Lib's seeding: the fast EMA starts with the slow one, at bar 25.
    late_fast = [np.nan] * 25 + ref_ema(list(x[14:]), 12)[11:]
    expected_line = np.array(late_fast) - np.array(ref_ema(list(x), 26))
    close(line, list(expected_line))
    close(signal, ref_ema(list(expected_line), 9))
    # The signal is seeded with the mean of the first 9 defined MACD values.
    assert np.isnan(signal[: 25 + 8]).all()
    assert signal[25 + 8] == pytest.approx(line[25 : 25 + 9].mean(), rel=RTOL)


def test_indicators_on_short_inputs_are_all_nan() -> None:
    x = np.array([1.0, 2.0, 3.0])
    assert np.isnan(indicators.sma(x, 5)).all()
    assert np.isnan(indicators.ema(x, 5)).all()
    assert np.isnan(indicators.rsi(x, 5)).all()
    assert indicators.sma(np.empty(0), 3).size == 0


@pytest.mark.parametrize("windows", [(10, 30), (30, 10), (1, 2), (5, 1500), (2000, 3)])
def test_an_sma_pair_is_each_sma_bit_for_bit(windows: tuple[int, int]) -> None:
    x = CLOSES["EURUSD"]
    first, second = indicators.sma_pair(x, *windows)
    np.testing.assert_array_equal(first, indicators.sma(x, windows[0]))
    np.testing.assert_array_equal(second, indicators.sma(x, windows[1]))
    assert np.isnan(first[: windows[0] - 1]).all()
    close(first, ref_sma(list(x), windows[0]))


def test_an_sma_pair_of_short_inputs() -> None:
    first, second = indicators.sma_pair(np.array([1.0, 2.0, 3.0]), 2, 5)
    np.testing.assert_array_equal(first, [np.nan, 1.5, 2.5])
    assert np.isnan(second).all()
    assert [a.size for a in indicators.sma_pair(np.empty(0), 3, 4)] == [0, 0]


@pytest.mark.parametrize(("fast", "slow"), [(10, 30), (30, 10), (1, 5), (7, 7), (3, 5_000)])
def test_sma_pair_sides_are_the_pairs_means_compared_to_the_bit(fast: int, slow: int) -> None:
    rng = np.random.default_rng(fast * slow)
    close = 100.0 + np.cumsum(rng.standard_normal(3_000))
    close[1_000] = np.nan
    close[2_000:2_050] = close[1_999]  # flat: equal means
    mean_fast, mean_slow = indicators.sma(close, fast), indicators.sma(close, slow)
    expected = np.where(mean_fast > mean_slow, 1, np.where(mean_fast < mean_slow, -1, 0))
    sides = indicators.sma_pair_sides(close, fast, slow)
    assert sides.dtype == np.int8
    assert sides.tolist() == expected.tolist()
    assert np.count_nonzero(sides == 0) >= min(max(fast, slow), close.size)
