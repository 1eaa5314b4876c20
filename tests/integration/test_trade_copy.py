"""Trades written by the binary COPY built in numpy (shared/trade_copy.py) against the same
trades written row by row from Python values: every layout of texts and NULLs, bit for bit."""

import io
import math
import struct
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import numpy as np
import pytest

from domain.execution.settings import EXIT_REASONS
from domain.market.intervals import from_epoch_ms
from shared import trade_copy
from shared.backtest_spec import BacktestSpec
from shared.repos import backtests as backtests_repo
from shared.trade_copy import TradeColumns

pytestmark = pytest.mark.integration

T0 = 1_704_067_200_000
REQUEST: dict[str, Any] = {
    "category": "linear",
    "symbol": "BTCUSDT",
    "interval": "60",
    "start": T0,
    "end": T0 + 800 * 3_600_000,
    "strategy": {"name": "sma_cross", "params": {"fast": 5, "slow": 20}},
}


def _columns(n: int, seed: int) -> TradeColumns:
    """Every side, exit reason and symbol; open trades; non-finite returns on equity; NaN,
    -0.0 and extreme floats."""
    rng = np.random.default_rng(seed)

    def floats() -> np.ndarray:
        values = rng.normal(0, 1e3, n)
        values[rng.random(n) < 0.05] = -0.0
        values[rng.random(n) < 0.02] = np.nan
        values[rng.random(n) < 0.02] = 1e308
        return values

    entry = T0 + np.sort(rng.integers(0, 10**9, n))
    exit_time = entry + rng.integers(0, 10**8, n)
    exit_time[rng.random(n) < 0.1] = -1
    equity_return = floats()
    equity_return[rng.random(n) < 0.05] = np.inf
    equity_return[rng.random(n) < 0.05] = -np.inf
    return TradeColumns(
        side=rng.choice(np.array([-1, 1], np.int8), n),
        entry_time=entry,
        entry_price=floats(),
        exit_time=exit_time,
        exit_price=floats(),
        qty=floats(),
        pnl=floats(),
        returns=floats(),
        fees=floats(),
        exit_reason=rng.integers(0, len(EXIT_REASONS), n).astype(np.int8),
        funding=floats(),
        equity_return=equity_return,
        mae=floats(),
        mfe=floats(),
        bars_held=rng.integers(0, 2**31 - 1, n),
        entry_order="limit",
        symbols=("BTCUSDT", "ETHUSDT", "XRPUSDT"),
        symbol=rng.integers(0, 3, n),
    )


def _time_or_none(ms: int) -> datetime | None:
    return from_epoch_ms(ms) if ms >= 0 else None


def _rows(t: TradeColumns) -> list[tuple[Any, ...]]:
    """The trades as Python values, one row each, as they were written before the COPY."""
    return [
        (
            "long" if t.side[i] > 0 else "short",
            from_epoch_ms(int(t.entry_time[i])),
            float(t.entry_price[i]),
            _time_or_none(int(t.exit_time[i])),
            float(t.exit_price[i]) if t.exit_time[i] >= 0 else None,
            float(t.qty[i]),
            float(t.pnl[i]),
            float(t.returns[i]),
            float(t.fees[i]),
            EXIT_REASONS[int(t.exit_reason[i])],
            float(t.funding[i]),
            float(t.equity_return[i]) if math.isfinite(t.equity_return[i]) else None,
            float(t.mae[i]),
            float(t.mfe[i]),
            int(t.bars_held[i]),
            t.entry_order,
            t.symbols[int(t.symbol[i])],
        )
        for i in range(len(t))
    ]


def _bits(row: asyncpg.Record) -> tuple[Any, ...]:
    """A stored row with each float as its bytes (NaN equals NaN, -0.0 differs from 0.0)."""
    return tuple(struct.pack(">d", v) if isinstance(v, float) else v for v in row.values())


async def _stored(pool: asyncpg.Pool, backtest_id: UUID) -> list[tuple[Any, ...]]:
    columns = ", ".join(f'"{c}"' for c in backtests_repo.TRADE_COLUMNS[1:])
    rows = await pool.fetch(
        f"SELECT {columns} FROM trades WHERE backtest_id = $1 ORDER BY seq", backtest_id
    )
    return [_bits(r) for r in rows]


async def test_the_binary_copy_stores_what_row_by_row_values_store(pool: asyncpg.Pool) -> None:
    request = BacktestSpec.model_validate(REQUEST).model_dump(mode="json")
    trades = _columns(2_000, seed=5)
    by_copy = (await backtests_repo.create_backtest(pool, request)).id
    by_rows = (await backtests_repo.create_backtest(pool, request)).id
    async with pool.acquire() as conn:
        await conn.copy_records_to_table(
            "trades",
            records=[(by_rows, seq, *row) for seq, row in enumerate(_rows(trades))],
            columns=list(backtests_repo.TRADE_COLUMNS),
        )
        await conn.copy_to_table(
            "trades",
            source=io.BytesIO(trade_copy.encode(by_copy, trades)),
            columns=list(backtests_repo.TRADE_COLUMNS),
            format="binary",
        )
    expected = await _stored(pool, by_rows)
    assert len(expected) == 2_000
    assert await _stored(pool, by_copy) == expected
    layouts = {(r[1], r[4] is None, r[10], r[12] is None, r[17]) for r in expected}
    assert len(layouts) > 100  # sides x exit reasons x open x return x symbol


async def test_no_trades_copy_as_no_rows(pool: asyncpg.Pool) -> None:
    request = BacktestSpec.model_validate(REQUEST).model_dump(mode="json")
    backtest_id = (await backtests_repo.create_backtest(pool, request)).id
    empty = _columns(0, seed=1)
    async with pool.acquire() as conn:
        await conn.copy_to_table(
            "trades",
            source=io.BytesIO(trade_copy.encode(backtest_id, empty)),
            columns=list(backtests_repo.TRADE_COLUMNS),
            format="binary",
        )
    assert await _stored(pool, backtest_id) == []
