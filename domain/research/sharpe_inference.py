"""How likely a Sharpe ratio is to be luck: the probabilistic and the deflated Sharpe ratio.

Per-bar returns, not annualized (Bailey and López de Prado, "The Sharpe Ratio Efficient
Frontier", 2012, and "The Deflated Sharpe Ratio", 2014). Undefined values are None.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.special import ndtr, ndtri

from domain.research.lane_order import central_moments

EULER_MASCHERONI = 0.5772156649


@dataclass(frozen=True)
class ReturnMoments:
    """What the tests need of a return series: its Sharpe ratio, skewness, kurtosis, count."""

    sharpe: float  # mean / std (ddof 1)
    skewness: float  # m3 / m2^1.5, population moments
    kurtosis: float  # m4 / m2^2, not excess
    count: int

    @classmethod
    def of(cls, returns: npt.NDArray[np.float64]) -> "ReturnMoments | None":
        """None when the Sharpe ratio is undefined (fewer than 2 returns, no variance)."""
        count = int(returns.size)
        if count < 2:
            return None
        return cls.from_central(count, *central_moments(np.ascontiguousarray(returns, np.float64)))

    @classmethod
    def from_central(
        cls, count: int, mean: float, m2: float, m3: float, m4: float
    ) -> "ReturnMoments | None":
        """From the mean and the population central moments m2, m3, m4 of `count` returns."""
        if count < 2 or not m2 > 0.0 or not math.isfinite(m2):
            return None
        sharpe = mean / math.sqrt(m2 * count / (count - 1))
        return cls(sharpe, m3 / m2**1.5, m4 / m2**2, count)


def _probability_above(moments: ReturnMoments, benchmark: float) -> float | None:
    """Phi((SR - SR*) sqrt(T - 1) / sqrt(1 - skew SR + (kurtosis - 1)/4 SR^2))."""
    sr = moments.sharpe
    spread = 1.0 - moments.skewness * sr + (moments.kurtosis - 1.0) / 4.0 * sr**2
    if not spread > 0.0:
        return None
    value = float(ndtr((sr - benchmark) * math.sqrt(moments.count - 1) / math.sqrt(spread)))
    return value if math.isfinite(value) else None


def probabilistic_sharpe(moments: ReturnMoments | None) -> float | None:
    """PSR against a Sharpe ratio of 0: the probability that the true one is positive."""
    return None if moments is None else _probability_above(moments, 0.0)


def expected_maximum_sharpe(trial_sharpes: Sequence[float]) -> float | None:
    """SR0: the highest Sharpe ratio N trials with no skill would be expected to show,
    sqrt(V) ((1 - g) Phi^-1(1 - 1/N) + g Phi^-1(1 - 1/(N e))), g Euler-Mascheroni."""
    sharpes = np.asarray([s for s in trial_sharpes if s is not None and math.isfinite(s)])
    trials = sharpes.size
    if trials < 2:
        return None
    variance = float(np.var(sharpes, ddof=1))
    gamma = EULER_MASCHERONI
    spread = (1 - gamma) * ndtri(1 - 1 / trials) + gamma * ndtri(1 - 1 / (trials * math.e))
    return math.sqrt(variance) * float(spread)


def deflated_sharpe(best: ReturnMoments | None, trial_sharpes: Sequence[float]) -> float | None:
    """DSR: the PSR of the best trial against SR0 of all the trials."""
    benchmark = expected_maximum_sharpe(trial_sharpes)
    if best is None or benchmark is None:
        return None
    return _probability_above(best, benchmark)
