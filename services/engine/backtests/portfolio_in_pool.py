"""What runs in the engine's process pool for a portfolio backtest: every symbol's candles in,
the same plain outputs as a one-symbol backtest out, plus `per_symbol`."""

import dataclasses

import numpy as np

from domain.market.intervals import iso_utc
from domain.portfolio_backtest import SymbolSeries, run_portfolio
from services.engine.backtests.data_used import DataReport, data_used
from services.engine.backtests.in_pool import BacktestOutput, monte_carlo, trade_columns
from services.engine.backtests.parsed_request import ParsedBacktest
from services.engine.provenance import (
    arrays_sha256,
    canonical_json,
    portfolio_provenance,
    sha256_hex,
)


def simulate_portfolio(series: list[SymbolSeries], run: ParsedBacktest) -> BacktestOutput:
    """The portfolio backtest `run` (the request as the consumer parsed it) over each
    symbol's warmed candles."""
    assert run.portfolio is not None
    result = run_portfolio(series, run.config, run.portfolio)
    t = result.trades
    d = result.details
    names = tuple(one.symbol for one in series)
    trades = trade_columns(result, "market", names, result.kernel.trade_symbol)
    data, warnings = _data(series, run, len(t))
    metrics = dict(result.metrics)
    ran_on = portfolio_provenance(series, run.strategy_sha256)
    joined = ran_on["candles"]["sha256"]
    digests = {
        "candles": joined,
        "metrics": sha256_hex(canonical_json(metrics)),
        "trades": arrays_sha256(
            *(getattr(t, f.name) for f in dataclasses.fields(t)), result.kernel.trade_symbol
        ),
    }
    return BacktestOutput(
        metrics,
        trades,
        result.time,
        result.equity,
        data,
        t.exit_counts(),
        [*run.warnings, *warnings, *result.warnings],
        monte_carlo(run, d.equity_return[t.closed]),
        ran_on,
        digests,
        result.per_symbol,
    )


def _data(
    series: list[SymbolSeries], run: ParsedBacktest, num_trades: int
) -> tuple[DataReport, list[str]]:
    """The union's first and last bar and its count; each symbol's late start, early end,
    gaps and short warm-up as warnings naming it."""
    warnings: list[str] = []
    times = []
    warmups = []
    for one in series:
        traded = one.candles.open_time[one.trade_from :]
        if traded.size == 0:
            warnings.append(f"{one.symbol}: no candles in the range; it never trades")
            continue
        times.append(traded)
        warmups.append(one.trade_from)
        report = data_used(
            one.candles.open_time,
            one.trade_from,
            run.warmup_asked,
            run.start_ms,
            run.end_ms,
            run.interval,
            1,
        )
        warnings.extend(f"{one.symbol}: {sentence}" for sentence in report.warnings)
    union = np.unique(np.concatenate(times))
    if num_trades == 0:
        warnings.append("no trades: the strategy never took a position in the range")
    data = {
        "first": iso_utc(int(union[0])),
        "last": iso_utc(int(union[-1])),
        "bars": int(union.size),
        "warmup_bars": min(warmups),
    }
    return DataReport(data, []), warnings
