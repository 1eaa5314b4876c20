"""Turning Bybit's perpetual-only answers into clean values: funding history, the instrument's
funding interval and leverage filter, its risk-limit tiers; and planning funding pages.

As with candles, nothing trusts a page to be ordered or free of duplicates.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from domain.market.intervals import MINUTE_MS

FUNDING_PAGE_LIMIT = 200


@dataclass(frozen=True)
class Fundings:
    time: npt.NDArray[np.int64]  # epoch ms, ascending, unique
    rate: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.time)


def parse_funding_rows(rows: Sequence[Mapping[str, Any]], start_ms: int, end_ms: int) -> Fundings:
    """The fundings of `rows` with their time in [start_ms, end_ms], oldest first."""
    times = np.array([int(row["fundingRateTimestamp"]) for row in rows], np.int64)
    rates = np.array([float(row["fundingRate"]) for row in rows], np.float64)
    keep = (times >= start_ms) & (times <= end_ms)
    times, rates = times[keep], rates[keep]
    order = np.argsort(times, kind="stable")
    times, rates = times[order], rates[order]
    unique = np.ones(len(times), dtype=bool)
    unique[1:] = times[1:] != times[:-1]
    return Fundings(times[unique], rates[unique])


def funding_pages_at_most(start_ms: int, end_ms: int, funding_interval: int | None) -> int:
    """An upper bound of the pages that walk [start_ms, end_ms] backwards: the last one is
    the first that is not full (it may be empty)."""
    step = (funding_interval or 60) * MINUTE_MS
    fundings = max(0, end_ms // step - -(-start_ms // step) + 1)
    return fundings // FUNDING_PAGE_LIMIT + 1


@dataclass(frozen=True)
class InstrumentLimits:
    funding_interval: int | None  # minutes
    min_leverage: float | None
    max_leverage: float | None
    leverage_step: float | None


def _number(value: object) -> float | None:
    return None if value is None or value == "" else float(str(value))


def parse_instrument(entry: Mapping[str, Any]) -> InstrumentLimits:
    """An instruments-info entry of a linear or inverse contract."""
    leverage = entry.get("leverageFilter") or {}
    interval = entry.get("fundingInterval")
    return InstrumentLimits(
        int(interval) if interval not in (None, "") else None,
        _number(leverage.get("minLeverage")),
        _number(leverage.get("maxLeverage")),
        _number(leverage.get("leverageStep")),
    )


@dataclass(frozen=True)
class RiskTier:
    tier_id: int
    risk_limit_value: float
    maintenance_margin: float
    initial_margin: float
    is_lowest_risk: bool
    max_leverage: float
    mm_deduction: float


def parse_risk_tiers(rows: Sequence[Mapping[str, Any]], symbol: str) -> list[RiskTier]:
    """The symbol's tiers, lowest risk limit first (an empty mmDeduction is 0)."""
    tiers = {
        int(row["id"]): RiskTier(
            int(row["id"]),
            float(row["riskLimitValue"]),
            float(row["maintenanceMargin"]),
            float(row["initialMargin"]),
            int(row.get("isLowestRisk") or 0) == 1,
            float(row["maxLeverage"]),
            _number(row.get("mmDeduction")) or 0.0,
        )
        for row in rows
        if row.get("symbol") == symbol
    }
    return sorted(tiers.values(), key=lambda tier: tier.risk_limit_value)
