"""The example strategies of docs/strategies.md ("Example strategies") are accepted by a
perpetual's backtest request and trade on a year of synthetic hourly candles."""

import json
import re
from typing import Any

import numpy as np
import pytest

from domain.backtest import run_backtest
from domain.market.candles import Candles
from domain.market.perp_market import perp_market
from shared.backtest_spec import BacktestSpec
from tests.support.paths import ROOT

DOCS = ROOT / "docs" / "strategies.md"


def examples() -> dict[str, dict[str, Any]]:
    text = DOCS.read_text()
    section = text.split("### Example strategies", 1)[1].split("\n## ", 1)[0]
    found = re.findall(r"#### (.+?)\n.*?```json\n(.*?)```", section, re.S)
    return {title: json.loads(body) for title, body in found}


EXAMPLES = examples()
N = 24 * 365
HOUR = 3_600_000
START = 1_704_067_200_000  # 2024-01-01, a Monday
_rng = np.random.default_rng(11)
# Calm and wild stretches of 500 hours, and slow trends.
_sigma = np.where(np.arange(N) // 500 % 2 == 0, 0.005, 0.02)
_returns = _rng.normal(0, 1, N) * _sigma + 0.004 * np.sin(np.arange(N) / 300)
_close = 40_000 * np.exp(np.cumsum(_returns))
_open = np.concatenate(([_close[0]], _close[:-1]))
_wick = np.abs(_rng.normal(0, 0.003, N)) * _close
TIMES = START + np.arange(N, dtype=np.int64) * HOUR
CANDLES = Candles(
    TIMES,
    _open,
    np.maximum(_open, _close) + _wick,
    np.minimum(_open, _close) - _wick,
    _close,
    _rng.uniform(10, 100, N),
    _close,
)
FUNDING_TIMES = START + np.arange(0, N, 8, dtype=np.int64) * HOUR
RATES = 0.0002 * np.sin(np.arange(FUNDING_TIMES.size) / 20) + _rng.normal(
    0, 5e-5, FUNDING_TIMES.size
)
MARKET = perp_market(CANDLES, "60", Candles.empty(), FUNDING_TIMES, RATES)


def test_the_page_has_an_example_of_each_family() -> None:
    assert set(EXAMPLES) == {
        "Trend filter on a higher timeframe",
        "Funding-aware carry",
        "Session breakout by hour",
        "Volatility-targeted size",
    }


@pytest.mark.parametrize("title", sorted(EXAMPLES))
def test_each_example_runs_and_trades(title: str) -> None:
    request = {
        "category": "linear",
        "symbol": "BTCUSDT",
        "interval": "60",
        "start": "2024-01-01T00:00:00Z",
        "end": "2024-12-30T23:00:00Z",
        "direction": "long_short",
        "strategy": {"definition": EXAMPLES[title]},
    }
    spec = BacktestSpec.model_validate(request)
    result = run_backtest(CANDLES, spec.config(), market=MARKET)
    assert len(result.trades) >= 5
    if "size" in EXAMPLES[title]:
        # Each entry's stake, qty x fill x (1 + fee) over the cash before it, is its size.
        trades = result.trades
        cash = 10_000.0 + np.concatenate(([0.0], np.cumsum(trades.pnl)[:-1]))
        stakes = trades.qty * trades.entry_price * (1 + spec.fee_rate) / cash
        assert (stakes <= 1 + 1e-9).all() and (stakes < 0.99).any()
