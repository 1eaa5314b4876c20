"""GET /backtests/{id}/indicators: the series the strategy looked at, each equal to a slow
obvious computation over the stored candles, price-scaled ones on the price pane."""

import itertools
import math
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from shared.settings import Settings
from tests.support.market import BACKTEST_REQUEST, insert_hourly
from tests.support.services import running_engine, settled

pytestmark = pytest.mark.integration

Client = TestClient[web.Request, web.Application]


def slow_sma(closes: list[float], n: int) -> list[float | None]:
    return [None if i + 1 < n else sum(closes[i + 1 - n : i + 1]) / n for i in range(len(closes))]


def slow_rsi(closes: list[float], n: int) -> list[float | None]:
    """Wilder's RSI: the first n changes' plain means, then smoothing with 1/n."""
    out: list[float | None] = [None] * len(closes)
    changes = [b - a for a, b in itertools.pairwise(closes)]
    gain = sum(max(c, 0) for c in changes[:n]) / n
    loss = sum(max(-c, 0) for c in changes[:n]) / n
    out[n] = 100 - 100 / (1 + gain / loss)
    for i in range(n + 1, len(closes)):
        c = changes[i - 1]
        gain = (gain * (n - 1) + max(c, 0)) / n
        loss = (loss * (n - 1) + max(-c, 0)) / n
        out[i] = 100 - 100 / (1 + gain / loss)
    return out


async def run(api: Client, request: dict[str, Any]) -> dict[str, Any]:
    created = await api.post("/api/v1/backtests", json=request)
    view = await settled(api, created.headers["Location"])
    assert view["status"] == "succeeded", view["error"]
    return view


async def test_a_strategys_indicators_are_the_series_it_looked_at(
    api: Client, settings: Settings, pool: asyncpg.Pool
) -> None:
    await insert_hourly(pool)
    expression = {
        **BACKTEST_REQUEST,
        "strategy": {
            "definition": {
                "params": {"n": {"type": "int", "default": 14, "minimum": 2, "maximum": 50}},
                "long_entry": "rsi(close, n) < 40 and close > sma(close, 10) * 0.9",
                "long_exit": "crosses_above(rsi(close, n), 60)",
            },
            "params": {"n": 7},
        },
    }
    async with running_engine(settings):
        builtin = await run(api, BACKTEST_REQUEST)
        written = await run(api, expression)
    klines = await api.get(
        "/api/v1/klines",
        params={
            "category": "linear",
            "symbol": "BTCUSDT",
            "interval": "60",
            "start": BACKTEST_REQUEST["start"],
            "end": BACKTEST_REQUEST["end"],
            "limit": "1000",
        },
    )
    closes = [c["close"] for c in (await klines.json())["items"]]

    answer = await (await api.get(f"/api/v1/backtests/{builtin['id']}/indicators")).json()
    lines = {line["name"]: line for line in answer["items"]}
    assert set(lines) == {"sma(close, 5)", "sma(close, 20)"}
    assert len(answer["times"]) == len(closes) == len(lines["sma(close, 5)"]["values"])
    for n in (5, 20):
        line = lines[f"sma(close, {n})"]
        assert line["pane"] == "price"
        expected = slow_sma(closes, n)
        assert [v is None for v in line["values"]] == [v is None for v in expected]
        for got, want in zip(line["values"], expected, strict=True):
            assert got is None or math.isclose(got, want or 0, rel_tol=1e-12)

    answer = await (await api.get(f"/api/v1/backtests/{written['id']}/indicators")).json()
    lines = {line["name"]: line for line in answer["items"]}
    assert set(lines) == {"rsi(close, 7)", "sma(close, 10)"}
    assert lines["rsi(close, 7)"]["pane"] == "lower" and lines["sma(close, 10)"]["pane"] == "price"
    for got, want in zip(lines["rsi(close, 7)"]["values"], slow_rsi(closes, 7), strict=True):
        assert (got is None) == (want is None)
        assert got is None or math.isclose(got, want or 0, rel_tol=1e-9)

    # A window of the range: the same values, only those bars.
    window = await api.get(
        f"/api/v1/backtests/{builtin['id']}/indicators",
        params={"start": "2024-01-05T00:00:00Z", "end": "2024-01-05T05:00:00Z"},
    )
    part = await window.json()
    assert part["times"][0].startswith("2024-01-05T00:00") and len(part["times"]) == 6
    full = slow_sma(closes, 20)[96:102]
    assert part["items"][1]["values"] == pytest.approx(full, rel=1e-12)
    missing = await api.get("/api/v1/backtests/00000000-0000-0000-0000-000000000000/indicators")
    assert missing.status == 404
