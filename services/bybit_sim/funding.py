"""Funding history of the simulated perpetuals: deterministic, realistic rates.

Fundings happen at every multiple of the instrument's funding interval (UTC) from its launch.
Rates sit around 0.01% per 8 hours (scaled to the interval), are sometimes negative and now
and then spike, within the instrument's funding caps.
"""

import numpy as np
from numpy.typing import NDArray

from domain.market.intervals import MINUTE_MS
from services.bybit_sim.instruments import Instrument, stable_int

_CAP = 0.005  # upperFundingRate / -lowerFundingRate of instruments-info
_SPIKE_CHANCE = 0.03
_CATEGORY_CODES = {"linear": 2, "inverse": 3}


def funding_times(inst: Instrument, first_ms: int, start_ms: int, end_ms: int) -> NDArray[np.int64]:
    """Funding timestamps in [max(start, first), end], oldest first."""
    step = inst.funding_interval * MINUTE_MS
    lowest = max(start_ms, first_ms)
    first = -(-lowest // step) * step
    if end_ms < first:
        return np.empty(0, np.int64)
    return np.arange(first, end_ms + 1, step, dtype=np.int64)


def funding_rates(seed: int, inst: Instrument, times: NDArray[np.int64]) -> NDArray[np.float64]:
    """The rate settled at each time: a pure function of (seed, instrument, time)."""
    scale = inst.funding_interval / 480
    symbol_key = stable_int(inst.symbol)
    rates = np.empty(len(times))
    for i, t in enumerate(times.tolist()):
        rng = np.random.default_rng([seed, _CATEGORY_CODES[inst.category], symbol_key, 3, t])
        normal, spike_roll, size, sign_roll = rng.standard_normal(), *rng.random(3)
        rate = (0.0001 + 0.00008 * normal) * scale
        if spike_roll < _SPIKE_CHANCE:
            rate = (1 if sign_roll < 0.65 else -1) * (0.0015 + 0.0035 * size)
        rates[i] = rate
    return np.round(np.clip(rates, -_CAP, _CAP), 6).astype(np.float64)


def funding_page(
    inst: Instrument,
    first_ms: int,
    last_ms: int,
    start_ms: int | None,
    end_ms: int | None,
    limit: int,
) -> NDArray[np.int64]:
    """The times /v5/market/funding/history answers, newest first: the `limit` newest in
    [start, end], end defaulting to `last_ms` (now) and never after it."""
    step = inst.funding_interval * MINUTE_MS
    highest = (last_ms if end_ms is None else min(end_ms, last_ms)) // step * step
    lowest = highest - (limit - 1) * step
    if start_ms is not None:
        lowest = max(lowest, start_ms)
    return funding_times(inst, first_ms, lowest, highest)[::-1]
