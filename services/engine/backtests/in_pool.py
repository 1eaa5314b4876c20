"""What runs in the engine's process pool: one backtest, from plain inputs to plain outputs."""

import dataclasses
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from domain.backtest import BacktestResult, run_backtest
from domain.execution.fill_detail import FillDetail
from domain.execution.settings import EXIT_REASONS
from domain.market.candles import Candles
from domain.market.intervals import from_epoch_ms
from domain.market.perp_market import PerpMarket
from domain.research.monte_carlo import resample_trades
from services.engine.backtests.data_used import DataReport, data_used
from services.engine.backtests.parsed_request import ParsedBacktest
from services.engine.provenance import (
    arrays_sha256,
    candles_provenance,
    canonical_json,
    provenance,
    sha256_hex,
)

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class BacktestOutput:
    metrics: dict[str, float | int | None]
    trades: list[
        tuple[Any, ...]
    ]  # in shared.repos.backtests.TRADE_COLUMNS order, after backtest_id, seq
    times: npt.NDArray[np.int64]
    equity: npt.NDArray[np.float64]
    data: DataReport
    exit_counts: dict[str, int]
    warnings: list[str]  # what the data and the stops say about the run
    monte_carlo: dict[str, Any] | None
    provenance: dict[str, Any]
    digests: dict[str, str]  # sha256 of each part a rerun compares (provenance.COMPARED)
    per_symbol: dict[str, dict[str, float | int | None]] | None = None  # a portfolio's


def time_or_none(ms: int) -> datetime | None:
    return from_epoch_ms(ms) if ms >= 0 else None


def simulate(
    candles: Candles,
    run: ParsedBacktest,
    warmup: int = 0,
    market: PerpMarket | None = None,
    detail: FillDetail | None = None,
) -> BacktestOutput:
    """The backtest over `candles` but their first `warmup` bars, which only warm the
    indicators; `market` a perpetual's mark price and funding on the same candles, `detail`
    the `fill_detail` candles inside them. `run` is the request as the consumer parsed it."""
    result = run_backtest(candles, run.config, trade_from=warmup, market=market, detail=detail)
    t = result.trades
    trades = _trade_rows(result, run.entry_order, run.symbol)
    data = data_used(
        candles.open_time,
        warmup,
        run.warmup_asked,
        run.start_ms,
        run.end_ms,
        run.interval,
        len(t),
    )
    metrics = dict(result.metrics)
    ran_on = provenance(candles_provenance(candles), run.strategy_sha256)
    digests = {
        "candles": ran_on["candles"]["sha256"],
        "metrics": sha256_hex(canonical_json(metrics)),
        "trades": arrays_sha256(*(getattr(t, f.name) for f in dataclasses.fields(t))),
        "equity": arrays_sha256(result.time, result.equity),
    }
    return BacktestOutput(
        metrics,
        trades,
        result.time,
        result.equity,
        data,
        t.exit_counts(),
        [*run.warnings, *data.warnings, *result.warnings],
        monte_carlo(run, result.details.equity_return[t.closed]),
        ran_on,
        digests,
    )


def _trade_rows(
    result: BacktestResult, entry_order: str, symbol: str | None
) -> list[tuple[Any, ...]]:
    """The trades as rows in shared.repos.backtests.TRADE_COLUMNS order (after backtest_id,
    seq): columns turned into Python values once each (`tolist`), not element by element."""
    t = result.trades
    d = result.details
    exit_times = t.exit_time.tolist()
    exit_prices = [
        price if time >= 0 else None
        for price, time in zip(t.exit_price.tolist(), exit_times, strict=True)
    ]
    return list(
        zip(
            ["long" if side > 0 else "short" for side in t.side.tolist()],
            [from_epoch_ms(ms) for ms in t.entry_time.tolist()],
            t.entry_price.tolist(),
            [time_or_none(ms) for ms in exit_times],
            exit_prices,
            t.qty.tolist(),
            t.pnl.tolist(),
            t.returns.tolist(),
            t.fees.tolist(),
            [EXIT_REASONS[reason] for reason in t.exit_reason.tolist()],
            t.funding.tolist(),
            [finite_or_none(value) for value in d.equity_return.tolist()],
            d.mae.tolist(),
            d.mfe.tolist(),
            d.bars_held.tolist(),
            [entry_order] * len(t),
            [symbol] * len(t),
            strict=True,
        )
    )


def finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def monte_carlo(run: ParsedBacktest, closed_returns: FloatArray) -> dict[str, Any] | None:
    """Closed trades' returns on equity resampled: leverage and position size count."""
    if run.monte_carlo is None:
        return None
    asked = run.monte_carlo
    initial = run.config.execution.initial_capital
    return resample_trades(closed_returns, initial, asked.runs, asked.seed).as_json()
