"""Monte Carlo, provenance and reruns through the services: API -> engine -> PostgreSQL."""

import hashlib
import json
import struct
from datetime import datetime
from importlib import metadata
from typing import Any

import asyncpg
import numpy as np
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from domain.market.intervals import from_epoch_ms
from domain.research.monte_carlo import resample_trades
from shared.settings import Settings
from tests.support.market import insert_candles, random_walk
from tests.support.services import running_engine, settled

pytestmark = pytest.mark.integration

Client = TestClient[web.Request, web.Application]
T0 = 1_704_067_200_000
HOURS = 600
DEFINITION = {
    "params": {
        "fast": {"type": "int", "default": 5, "minimum": 1, "maximum": 100},
        "slow": {"type": "int", "default": 20, "minimum": 2, "maximum": 400},
    },
    "rules": ["fast < slow"],
    "long_entry": "ema(close, fast) > ema(close, slow)",
    "short_entry": "ema(close, fast) < ema(close, slow)",
}
BACKTEST: dict[str, Any] = {
    "category": "linear",
    "symbol": "BTCUSDT",
    "interval": "60",
    "start": T0,
    "end": T0 + (HOURS - 1) * 3_600_000,
    "strategy": {"definition": DEFINITION, "params": {"fast": 5, "slow": 20}},
    "fee_rate": 0.001,
    "direction": "long_short",
}


async def _run(api: Client, body: dict[str, Any], path: str = "/api/v1/backtests") -> Any:
    resp = await api.post(path, json=body)
    assert resp.status == 202, await resp.text()
    done = await settled(api, resp.headers["Location"])
    assert done["status"] == "succeeded", done["error"]
    return done


async def _rerun(api: Client, backtest_id: str) -> Any:
    return await _run(api, {}, f"/api/v1/backtests/{backtest_id}/rerun")


async def test_monte_carlo_is_the_engines_resampling_of_the_closed_trades_same_seed_same_numbers(
    api: Client, pool: asyncpg.Pool, settings: Settings
) -> None:
    await insert_candles(pool, "linear", "BTCUSDT", "60", random_walk(T0, HOURS, "60", seed=4))
    body = {**BACKTEST, "monte_carlo": {"runs": 2000, "seed": 7}}
    async with running_engine(settings):
        first = await _run(api, body)
        again = await _run(api, body)
        other = await _run(api, {**body, "monte_carlo": {"runs": 2000, "seed": 8}})
        plain = await _run(api, BACKTEST)
    assert first["monte_carlo"] == again["monte_carlo"]
    assert first["monte_carlo"] != other["monte_carlo"]
    assert plain["monte_carlo"] is None
    trades = await (await api.get(f"/api/v1/backtests/{first['id']}/trades?limit=1000")).json()
    # Resampled: each closed trade's return on the equity before its entry (issue 20).
    closed = [t["equity_return"] for t in trades["items"] if t["exit_time"] is not None]
    assert len(closed) > 5
    for trade in trades["items"]:
        assert trade["mae"] >= 0 and trade["mfe"] >= 0 and trade["bars_held"] >= 0
        assert trade["entry_order"] == "market"
    expected = resample_trades(np.asarray(closed), 10_000.0, 2000, 7).as_json()
    assert first["monte_carlo"] == expected  # the returns travel as exact JSON floats
    mc = first["monte_carlo"]
    assert mc["runs"] == 2000 and mc["seed"] == 7 and 0.0 <= mc["prob_loss"] <= 1.0
    assert mc["final_equity"]["p5"] <= mc["final_equity"]["p50"] <= mc["final_equity"]["p95"]


@pytest.mark.parametrize(
    ("monte_carlo", "field"),
    [
        ({"runs": 99, "seed": 1}, "runs"),
        ({"runs": 100_001, "seed": 1}, "runs"),
        ({"runs": 1000, "seed": -1}, "seed"),
        ({"runs": 1000}, "seed"),
    ],
)
async def test_a_bad_monte_carlo_answers_422_naming_the_field(
    api: Client, pool: asyncpg.Pool, monte_carlo: dict[str, Any], field: str
) -> None:
    await insert_candles(pool, "linear", "BTCUSDT", "60", random_walk(T0, 50, "60"))
    resp = await api.post("/api/v1/backtests", json={**BACKTEST, "monte_carlo": monte_carlo})
    assert resp.status == 422
    assert f"monte_carlo.{field}" in await resp.text()


def _candles_sha256(items: list[dict[str, Any]]) -> str:
    """The contract's definition, written out with struct: <q then six <d per candle."""
    digest = hashlib.sha256()
    for c in items:
        open_time = int(datetime.fromisoformat(c["open_time"]).timestamp() * 1000)
        prices = (c[k] for k in ("open", "high", "low", "close", "volume", "turnover"))
        digest.update(struct.pack("<q6d", open_time, *prices))
    return digest.hexdigest()


async def _stored_candles(api: Client) -> list[dict[str, Any]]:
    query = {"category": "linear", "symbol": "BTCUSDT", "interval": "60"}
    query |= {"start": str(T0), "end": str(T0 + HOURS * 3_600_000), "limit": "1000"}
    resp = await api.get("/api/v1/klines", params=query)
    assert resp.status == 200
    body = await resp.json()
    items: list[dict[str, Any]] = body["items"] if isinstance(body, dict) else body
    return items


async def test_provenance_and_reruns_reproduced_until_a_candle_changes(
    api: Client, pool: asyncpg.Pool, settings: Settings
) -> None:
    await insert_candles(pool, "linear", "BTCUSDT", "60", random_walk(T0, HOURS, "60", seed=5))
    async with running_engine(settings):
        original = await _run(api, BACKTEST)
        same = await _rerun(api, original["id"])
        before = await _stored_candles(api)
        async with pool.acquire() as conn:
            await conn.execute(
                """UPDATE klines SET close = close * 1.01, high = high * 1.01
                   WHERE symbol = 'BTCUSDT' AND open_time = $1""",
                from_epoch_ms(T0 + 300 * 3_600_000),
            )
        changed = await _rerun(api, original["id"])
        grid = {"kind": "grid", "backtest": BACKTEST, "param_grid": {"fast": [3, 5]}}
        optimization = await _run(api, grid, "/api/v1/optimizations")
        # A worker holding the range's candles already records the next one's too.
        second = await _run(api, grid, "/api/v1/optimizations")

    candles = await _stored_candles(api)
    assert len(candles) == len(before) == HOURS
    provenance = original["provenance"]
    assert provenance["candles"]["sha256"] == _candles_sha256(before)
    assert provenance["candles"]["count"] == HOURS
    assert provenance["candles"]["first"] == candles[0]["open_time"]
    assert provenance["candles"]["last"] == candles[-1]["open_time"]
    definition = original["request"]["strategy"]["definition"]
    canonical = json.dumps(definition, sort_keys=True, separators=(",", ":")).encode()
    assert provenance["strategy_sha256"] == hashlib.sha256(canonical).hexdigest()
    assert provenance["engine_version"] == metadata.version("backtester")
    assert original["rerun_of"] is None and original["reproduced"] is None

    assert same["rerun_of"] == original["id"] and same["request"] == original["request"]
    assert same["reproduced"] is True and same["differences"] == []
    assert same["provenance"] == provenance

    # The candles now stored, one changed: the rerun's digest is theirs, not the original's.
    assert changed["provenance"]["candles"]["sha256"] == _candles_sha256(candles)
    assert changed["provenance"]["candles"]["sha256"] != provenance["candles"]["sha256"]
    assert changed["reproduced"] is False
    assert changed["differences"][0] == "candles"
    assert set(changed["differences"]) <= {"candles", "metrics", "trades", "equity"}

    assert optimization["provenance"]["candles"] == changed["provenance"]["candles"]
    assert optimization["provenance"]["strategy_sha256"] == provenance["strategy_sha256"]
    assert second["provenance"] == optimization["provenance"]


async def test_a_rerun_compares_the_equity_by_its_digest_stored_or_recomputed(
    api: Client, pool: asyncpg.Pool, settings: Settings
) -> None:
    """A backtest stores no equity digest (a rerun recomputes it from the stored curve: its
    times then values); one that has it (stored before) is compared by it as it is."""
    await insert_candles(pool, "linear", "BTCUSDT", "60", random_walk(T0, HOURS, "60", seed=6))
    async with running_engine(settings):
        original = await _run(api, BACKTEST)
        recomputed = await _rerun(api, original["id"])
        row = await pool.fetchrow(
            "SELECT times, values FROM equity WHERE backtest_id = $1::uuid", original["id"]
        )
        assert row is not None
        curve = hashlib.sha256(row["times"] + row["values"]).hexdigest()
        for stored, expected in ((curve, True), ("0" * 64, False)):
            await pool.execute(
                """UPDATE backtests SET digests = digests || jsonb_build_object('equity', $2::text)
                   WHERE id = $1::uuid""",
                original["id"],
                stored,
            )
            again = await _rerun(api, original["id"])
            assert again["reproduced"] is expected
            assert again["differences"] == ([] if expected else ["equity"])

    assert recomputed["reproduced"] is True and recomputed["differences"] == []
    digests = await pool.fetchval(
        "SELECT digests FROM backtests WHERE id = $1::uuid", recomputed["id"]
    )
    assert digests["equity"] == curve  # the rerun's own, for a rerun of it


async def test_a_rerun_of_a_missing_or_unfinished_backtest_is_refused(
    api: Client, pool: asyncpg.Pool
) -> None:
    missing = await api.post("/api/v1/backtests/00000000-0000-0000-0000-000000000000/rerun")
    assert missing.status == 404
    await insert_candles(pool, "linear", "BTCUSDT", "60", random_walk(T0, 50, "60"))
    queued = await (await api.post("/api/v1/backtests", json=BACKTEST)).json()
    resp = await api.post(f"/api/v1/backtests/{queued['id']}/rerun")
    assert resp.status == 409
