"""Values for people in the report, as the web UI shows them (services/api/ui/static/js/
format.js): fractions (returns, drawdowns, rates, win rates) as percentages, money with
thousands separators, ratios with two decimals, `{"atr": k}` as "k x ATR" (a times sign);
never None, NaN or a Python repr. The raw values stay in the JSON."""

import math
from datetime import datetime
from typing import Any

PERCENT_KEYS = frozenset(
    {
        "total_return", "cagr", "max_drawdown", "win_rate", "avg_trade_return", "exposure",
        "return", "equity_return", "mae", "mfe", "benchmark_return", "prob_loss", "pbo", "dsr",
        "psr", "prob_oos_loss", "position_size", "stop_loss", "take_profit", "trailing_stop",
        "fee_rate", "maker_fee_rate", "maintenance_margin_rate", "drawdown", "offset", "risk",
    }
)  # fmt: skip
MONEY_KEYS = frozenset(
    {
        "final_equity", "fees_paid", "funding_paid", "pnl", "fees", "funding", "initial_capital",
        "long_pnl", "short_pnl", "equity", "p5", "p25", "p50", "p75", "p95",
    }
)  # fmt: skip
PRICE_KEYS = frozenset({"entry_price", "exit_price", "qty"})
MINUS = "\u2212"
TIMES = "\u00d7"
DIRECTIONS = {"long_only": "long only", "short_only": "short only", "long_short": "long & short"}
INTERVAL_NAMES = {
    "1": "1m", "3": "3m", "5": "5m", "15": "15m", "30": "30m", "60": "1h", "120": "2h",
    "240": "4h", "360": "6h", "720": "12h", "D": "1d", "W": "1w", "M": "1M",
}  # fmt: skip


def _signed(text: str) -> str:
    text = text.replace("-", MINUS)
    # A formatted zero carries no sign.
    stripped = text.lstrip(MINUS)
    if stripped.replace("0", "").replace(".", "").replace(",", "").strip(" %") == "":
        return stripped
    return text


def percent(value: float) -> str:
    p = value * 100
    a = abs(p)
    digits = 0 if a >= 100 else 1 if a >= 10 else 2 if a >= 0.1 or a == 0 else 3
    return _signed(f"{p:,.{digits}f} %")


def money(value: float) -> str:
    return _signed(f"{value:,.2f}")


def ratio(value: float) -> str:
    a = abs(value)
    digits = 0 if a >= 100 else 2 if a >= 1 else 3
    return _signed(f"{value:,.{digits}f}")


def _significant(value: float) -> str:
    if value == 0:
        return "0"
    digits = max(0, 7 - 1 - math.floor(math.log10(abs(value))))
    return _signed(f"{value:,.{digits}f}".rstrip("0").rstrip(".") if digits else f"{value:,.0f}")


def human(key: str, value: Any) -> str:
    """`value` of the field or metric `key`, for people."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        number = float(value)
        if not math.isfinite(number):
            return "—"
        if key in PERCENT_KEYS:
            return percent(number)
        if key in MONEY_KEYS:
            return money(number)
        if key in PRICE_KEYS:
            return _significant(number)
        if isinstance(value, int) or (number.is_integer() and abs(number) >= 1000):
            return f"{number:,.0f}"
        return ratio(number)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, list):
        return ", ".join(human(key, v) for v in value) if value else "—"
    if isinstance(value, dict):
        if set(value) == {"atr"}:
            return f"{ratio(float(value['atr']))} {TIMES} ATR"
        parts = []
        for k, v in value.items():
            shown = f"[{human(k, v)}]" if isinstance(v, list) else human(k, v)
            parts.append(f"{k.replace('_', ' ')} {shown}")
        return ", ".join(parts) if parts else "—"
    return str(value)


def setup_words(request: dict[str, Any]) -> str:
    """The settings that change a result: "10x · long & short · SL 2.00 %" (x a times sign)."""
    words = []
    leverage = request.get("leverage")
    if leverage not in (None, 1, 1.0):
        words.append(f"{ratio(float(leverage)).removesuffix('.00')}{TIMES}")
    if request.get("direction"):
        words.append(DIRECTIONS.get(request["direction"], str(request["direction"])))
    for key, short in (("stop_loss", "SL"), ("take_profit", "TP"), ("trailing_stop", "TS")):
        if request.get(key) is not None:
            words.append(f"{short} {human(key, request[key])}")
    size = request.get("position_size")
    if size not in (None, 1, 1.0):
        words.append(f"size {percent(float(size))}")
    return " · ".join(words)


def strategy_label(strategy_name: str | None, request: dict[str, Any]) -> str:
    strategy = request.get("strategy") or {}
    definition = strategy.get("definition") or {}
    return str(
        strategy_name
        or strategy.get("name")
        or definition.get("name")
        or ("expression" if definition else "—")
    )


def job_title(strategy_name: str | None, request: dict[str, Any]) -> str:
    """ "sma_cross · BTCUSDT · 1h": what ran, on what."""
    symbols = request.get("symbols") or [request.get("symbol") or "—"]
    interval = str(request.get("interval"))
    return (
        f"{strategy_label(strategy_name, request)} · {', '.join(map(str, symbols))} · "
        f"{INTERVAL_NAMES.get(interval, interval)}"
    )


def request_rows(request: dict[str, Any], order: list[str]) -> list[tuple[str, str]]:
    """The request as (setting, value) rows in the order of `order` (the request model's
    fields; others after them): the strategy's name and parameters, its rules for an
    expression, every other field in the human format."""
    rows: list[tuple[str, str]] = []
    known = [k for k in order if k in request] + [k for k in request if k not in order]
    for key in known:
        value = request[key]
        if key == "strategy" and isinstance(value, dict):
            definition = value.get("definition") or {}
            name = value.get("name") or definition.get("name") or "expression"
            rows.append(("strategy", str(name)))
            if value.get("params") is not None:
                rows.append(("parameters", human("params", value["params"])))
            for rule in ("long_entry", "long_exit", "short_entry", "short_exit", "size"):
                if definition.get(rule):
                    rows.append((rule.replace("_", " "), str(definition[rule])))
            if value.get("sha256"):
                rows.append(("plugin sha256", str(value["sha256"])))
        else:
            rows.append((key.replace("_", " "), human(key, value)))
    return rows
