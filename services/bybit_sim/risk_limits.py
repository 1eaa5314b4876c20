"""Risk-limit tiers of the simulated perpetuals, consistent with their leverageFilter.

Tier k (from 1) has maintenance margin k x mm1 and initial margin 1/L + (k-1) x mm1, where
L is the instrument's max leverage and mm1 = 1/(2L); the deduction keeps the maintenance
margin continuous across tiers, as Bybit's does.
"""

from decimal import ROUND_DOWN, Decimal

from services.bybit_sim.instruments import Instrument

TIERS = 10
_MAJORS = ("BTC", "ETH")


def _text(value: Decimal) -> str:
    return format(value.normalize(), "f")


def risk_tiers(inst: Instrument) -> list[dict[str, object]]:
    """The `result.list` entries of /v5/market/risk-limit for one symbol, lowest risk first."""
    max_leverage = Decimal(inst.max_leverage)
    mm1 = 1 / (2 * max_leverage)
    step_value = Decimal(2_000_000 if inst.base_coin in _MAJORS else 200_000)
    if inst.inverse:  # riskLimitValue is in the base coin
        step_value = Decimal(max(1, round(float(step_value) / inst.base_price)))
    tiers: list[dict[str, object]] = []
    deduction = Decimal(0)
    previous_mm = mm1
    for k in range(1, TIERS + 1):
        mm = mm1 * k
        im = 1 / max_leverage + mm1 * (k - 1)
        limit_value = step_value * k
        if k > 1:
            deduction += step_value * (k - 1) * (mm - previous_mm)
        previous_mm = mm
        tiers.append(
            {
                "id": k,
                "symbol": inst.symbol,
                "riskLimitValue": _text(limit_value),
                "maintenanceMargin": _text(mm),
                "initialMargin": _text(im),
                "isLowestRisk": 1 if k == 1 else 0,
                "maxLeverage": str((1 / im).quantize(Decimal("0.01"), ROUND_DOWN)),
                "mmDeduction": "" if k == 1 else _text(deduction),
            }
        )
    return tiers
