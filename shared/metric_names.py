"""The metrics every backtest and optimization row reports, and which way each is better."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Metrics(BaseModel):
    """A run's metrics as the API answers them: each a number, or null where undefined."""

    # Allowing more keys keeps an answer valid when the engine reports a new metric.
    model_config = ConfigDict(extra="allow", json_schema_serialization_defaults_required=True)

    final_equity: float | None = Field(None, description="cash + position at the last close")
    total_return: float | None = Field(None, description="final_equity / initial_capital - 1")
    cagr: float | None = Field(None, description="compound annual growth rate")
    sharpe: float | None = Field(None, description="annualized, risk-free 0")
    sortino: float | None = Field(None, description="annualized, downside deviation")
    max_drawdown: float | None = Field(None, description="largest fall from a peak, a fraction")
    calmar: float | None = Field(None, description="cagr / max_drawdown")
    num_trades: int | None = Field(None, description="closed and open trades")
    win_rate: float | None = Field(None, description="closed trades with pnl > 0, a fraction")
    profit_factor: float | None = Field(None, description="gross profit / gross loss")
    avg_trade_return: float | None = Field(None, description="mean return of closed trades")
    exposure: float | None = Field(None, description="fraction of bars holding a position")
    fees_paid: float | None = Field(None, description="sum of all fees")
    funding_paid: float | None = Field(
        None, description="net funding paid (negative: received); 0 on spot"
    )
    liquidations: int | None = Field(None, description="trades closed by liquidation")
    unfilled_orders: int | None = Field(
        None, description="limit entry orders cancelled unfilled (target changed or expired)"
    )
    psr: float | None = Field(
        None, description="probabilistic Sharpe ratio against 0, from the per-bar returns"
    )


METRIC_KEYS = tuple(Metrics.model_fields)
MetricKey = Literal[METRIC_KEYS]  # type: ignore[valid-type]
LOWER_IS_BETTER = frozenset({"max_drawdown", "funding_paid", "liquidations"})
