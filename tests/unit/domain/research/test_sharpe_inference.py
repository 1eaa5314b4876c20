"""PSR and DSR against the published worked example and scipy's moments and normal law."""

import math

import numpy as np
import pytest
from backtesting.test import GOOG
from scipy import stats

from domain.research.sharpe_inference import (
    ReturnMoments,
    deflated_sharpe,
    expected_maximum_sharpe,
    probabilistic_sharpe,
)


def test_the_deflated_sharpe_ratio_paper_worked_example():
    # Bailey & López de Prado (2014), "A numerical example": N = 100 trials, an annualized
    # SR of 2.5 over 5 years of daily returns (T = 1250, 250 a year), V[SR_n] = 1/2
    # annualized, skewness -3, kurtosis 10: SR0 = 0.1132 and DSR = 0.9004.
    daily_sr = 2.5 / math.sqrt(250)
    variance = 0.5 / 250
    # N trial Sharpe ratios whose sample variance is exactly `variance`.
    spread = np.linspace(-1, 1, 100)
    trials = daily_sr + spread / spread.std(ddof=1) * math.sqrt(variance)
    sr0 = expected_maximum_sharpe(list(trials))
    assert sr0 == pytest.approx(0.1132, abs=5e-5)
    best = ReturnMoments(daily_sr, -3.0, 10.0, 1250)
    dsr = deflated_sharpe(best, list(trials))
    assert dsr == pytest.approx(0.9004, abs=5e-4)


def test_psr_from_scipy_moments_on_real_returns():
    returns = GOOG["Close"].pct_change().dropna().to_numpy()
    moments = ReturnMoments.of(returns)
    assert moments is not None
    sr = returns.mean() / returns.std(ddof=1)
    skew = stats.skew(returns, bias=True)
    kurt = stats.kurtosis(returns, fisher=False, bias=True)
    assert moments.sharpe == pytest.approx(sr, rel=1e-12)
    assert moments.skewness == pytest.approx(skew, rel=1e-9)
    assert moments.kurtosis == pytest.approx(kurt, rel=1e-9)
    expected = stats.norm.cdf(
        sr * math.sqrt(len(returns) - 1) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr**2)
    )
    assert probabilistic_sharpe(moments) == pytest.approx(expected, rel=1e-12)
    assert 0.5 < expected < 1.0


def test_undefined_cases_are_none_never_nan():
    assert ReturnMoments.of(np.array([0.01])) is None
    assert ReturnMoments.of(np.zeros(50)) is None
    assert probabilistic_sharpe(None) is None
    assert expected_maximum_sharpe([0.1]) is None
    assert deflated_sharpe(ReturnMoments(0.1, 0.0, 3.0, 100), [0.1]) is None
    # A kurtosis/skew combination with no spread left gives None, not NaN.
    assert probabilistic_sharpe(ReturnMoments(2.0, 5.0, 1.0, 100)) is None
