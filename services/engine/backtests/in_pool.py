"""What runs in the engine's process pool: one backtest, from plain inputs to plain outputs."""

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from domain.backtest import BacktestResult, run_backtest
from domain.execution.fill_detail import FillDetail
from domain.market.candles import Candles
from domain.market.perp_market import PerpMarket
from domain.portfolio_backtest import PortfolioResult
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
from shared.trade_copy import TradeColumns

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class BacktestOutput:
    metrics: dict[str, float | int | None]
    trades: TradeColumns
    times: npt.NDArray[np.int64]
    equity: npt.NDArray[np.float64]
    data: DataReport
    exit_counts: dict[str, int]
    warnings: list[str]  # what the data and the stops say about the run
    monte_carlo: dict[str, Any] | None
    provenance: dict[str, Any]
    digests: dict[str, str]  # sha256 of each part a rerun compares but the equity (provenance)
    per_symbol: dict[str, dict[str, float | int | None]] | None = None  # a portfolio's


def simulate(
    candles: Candles,
    run: ParsedBacktest,
    warmup: int = 0,
    market: PerpMarket | None = None,
    detail: FillDetail | None = None,
    candles_digest: dict[str, Any] | None = None,
) -> BacktestOutput:
    """The backtest over `candles` but their first `warmup` bars, which only warm the
    indicators; `market` a perpetual's mark price and funding on the same candles, `detail`
    the `fill_detail` candles inside them. `run` is the request as the consumer parsed it;
    `candles_digest` the candles' `candles_provenance` when the consumer has it already."""
    result = run_backtest(candles, run.config, trade_from=warmup, market=market, detail=detail)
    t = result.trades
    trades = trade_columns(result, run.entry_order, (run.symbol,), np.zeros(len(t), np.intp))
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
    ran_on = provenance(candles_digest or candles_provenance(candles), run.strategy_sha256)
    digests = {
        "candles": ran_on["candles"]["sha256"],
        "metrics": sha256_hex(canonical_json(metrics)),
        "trades": arrays_sha256(*(getattr(t, f.name) for f in dataclasses.fields(t))),
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


def trade_columns(
    result: BacktestResult | PortfolioResult,
    entry_order: str,
    symbols: tuple[str, ...],
    symbol: npt.NDArray[np.intp],
) -> TradeColumns:
    """The trades as stored: the result's columns, every trade's `entry_order`, and each
    trade's index into `symbols`."""
    t = result.trades
    d = result.details
    return TradeColumns(
        t.side,
        t.entry_time,
        t.entry_price,
        t.exit_time,
        t.exit_price,
        t.qty,
        t.pnl,
        t.returns,
        t.fees,
        t.exit_reason,
        t.funding,
        d.equity_return,
        d.mae,
        d.mfe,
        d.bars_held,
        entry_order,
        symbols,
        symbol,
    )


def monte_carlo(run: ParsedBacktest, closed_returns: FloatArray) -> dict[str, Any] | None:
    """Closed trades' returns on equity resampled: leverage and position size count."""
    if run.monte_carlo is None:
        return None
    asked = run.monte_carlo
    initial = run.config.execution.initial_capital
    return resample_trades(closed_returns, initial, asked.runs, asked.seed).as_json()
