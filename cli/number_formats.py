"""Numbers as a trader reads them (the contract's "What a trader sees"): fractions (returns,
drawdowns, rates, probabilities) as percentages, money with thousands separators, ratios with
2-3 significant decimals, counts as integers. Raw values stay in `--json`."""

import json
import math
from typing import Any

# Fields and metrics that are fractions: shown as percentages.
PERCENT_KEYS = frozenset(
    {
        "total_return",
        "cagr",
        "max_drawdown",
        "win_rate",
        "avg_trade_return",
        "exposure",
        "psr",
        "dsr",
        "pbo",
        "prob_oos_loss",
        "prob_loss",
        "benchmark_return",
        "return",
        "equity_return",
        "mae",
        "mfe",
        "position_size",
        "stop_loss",
        "take_profit",
        "trailing_stop",
        "fee_rate",
        "maker_fee_rate",
        "maintenance_margin_rate",
        "offset",
        "risk",
        "progress",
    }
)
# Amounts of the account's currency.
MONEY_KEYS = frozenset(
    {
        "final_equity",
        "initial_capital",
        "fees_paid",
        "funding_paid",
        "pnl",
        "fees",
        "funding",
        "long_pnl",
        "short_pnl",
        "equity",
    }
)
# Prices and quantities: as many significant digits as a price has.
PRICE_KEYS = frozenset({"entry_price", "exit_price", "qty", "open", "high", "low", "close"})
RATIO_KEYS = frozenset({"sharpe", "sortino", "calmar", "profit_factor", "avg_bars_held"})
MINUS = "-"


def formatted(key: str, value: Any) -> str:
    """`value` of the field or metric `key`, for a table cell."""
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return plain(value)
    if isinstance(value, float) and not math.isfinite(value):
        return plain(value)
    if key in PERCENT_KEYS:
        return percent(value)
    if key in MONEY_KEYS:
        return money(value)
    if key in PRICE_KEYS:
        return _signed(f"{abs(value):,.8g}", value)
    if key in RATIO_KEYS:
        return ratio(value)
    if isinstance(value, int):
        return f"{value:,}"
    return ratio(value)


def percent(value: float) -> str:
    """0.0123 as `1.23%`, -0.96634 as `-96.63%`."""
    return _signed(f"{abs(value) * 100:,.2f}%", value)


def money(value: float) -> str:
    return _signed(f"{abs(value):,.2f}", value)


def ratio(value: float) -> str:
    """2-3 significant decimals: 1.2345 as `1.23`, 0.012345 as `0.0123`, 1234.5 as `1,234.5`."""
    if abs(value) >= 100:
        return _signed(f"{abs(value):,.1f}", value)
    if value == 0:
        return "0"
    return _signed(f"{abs(value):.3g}", value)


def plain(value: Any) -> str:
    """Any value without a key: `-` for none, JSON for lists and objects."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _signed(text: str, value: float) -> str:
    return MINUS + text if value < 0 and text.strip("0.,%") else text
