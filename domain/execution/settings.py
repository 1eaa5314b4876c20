"""The execution model: how targets become fills (docs/simulation.md). Every field, default and
kind of stop is written here once; the request models (shared/backtest_spec.py) take their
defaults from `ExecutionSettings`, and the kernel reads these settings."""

from dataclasses import dataclass
from typing import Literal

Direction = Literal["long_only", "short_only", "long_short"]

# Why a trade ended: the kernel records the code, results show the name (EXIT_REASONS[code]).
EXIT_SIGNAL = 0
EXIT_STOP_LOSS = 1
EXIT_TAKE_PROFIT = 2
EXIT_STILL_OPEN = 3
EXIT_TRAILING_STOP = 4
EXIT_LIQUIDATION = 5
EXIT_TIME_STOP = 6
EXIT_REBALANCE = 7  # portfolios: not chosen at a rebalance time
EXIT_REASONS = (
    "signal",
    "stop_loss",
    "take_profit",
    "end",
    "trailing_stop",
    "liquidation",
    "time_stop",
    "rebalance",
)
ExitReason = Literal[EXIT_REASONS]  # type: ignore[valid-type]

# The settings an optimization's param_grid may vary beside a strategy's parameters (so no
# strategy parameter may take these names); the stops among them may be ATR multiples.
GRIDABLE_STOPS = ("stop_loss", "take_profit", "trailing_stop")
GRIDABLE_FIELDS = (*GRIDABLE_STOPS, "position_size", "leverage", "max_bars_in_trade")
# A portfolio's K, which its grids may vary too (so no strategy parameter may take it either).
PORTFOLIO_GRID_FIELD = "max_positions"
Fill = Literal["next_open", "close"]
Contract = Literal["spot", "linear", "inverse"]


@dataclass(frozen=True)
class AtrMultiple:
    """A stop k * ATR(atr_period) away from the fill, that ATR taken as known at the fill."""

    k: float


# A stop as a fraction of the fill price, as a multiple of the ATR, or none.
Stop = float | AtrMultiple | None


@dataclass(frozen=True)
class LimitEntry:
    """Entries by limit order at the signal bar's close x (1 -/+ offset), working
    `valid_bars` bars."""

    offset: float = 0.0
    valid_bars: int = 1


@dataclass(frozen=True)
class ExecutionSettings:
    """How targets become fills; the defaults of docs/api.md."""

    initial_capital: float = 10_000.0
    fee_rate: float = 0.00055
    slippage_bps: float = 0.0
    direction: Direction = "long_only"
    fill: Fill = "next_open"
    position_size: float = 1.0
    stop_loss: Stop = None
    take_profit: Stop = None
    trailing_stop: Stop = None
    atr_period: int = 14
    # Perpetuals: the category's contract, its leverage, whether funding is booked (needs a
    # PerpMarket) and the maintenance margin rate of the liquidation price.
    contract: Contract = "spot"
    leverage: float = 1.0
    funding: bool = False
    maintenance_margin_rate: float = 0.005
    # Orders and sizing: limit entries (None: market), the maker fee of their fills, the time
    # stop (None: none), sizing by risk (the fraction of equity lost at the stop; None: by
    # `position_size`), and the interval of the detail candles given beside the bars.
    entry_order: LimitEntry | None = None
    maker_fee_rate: float = 0.0002
    max_bars_in_trade: int | None = None
    risk: float | None = None
    fill_detail: str | None = None

    @property
    def uses_atr(self) -> bool:
        stops = (self.stop_loss, self.take_profit, self.trailing_stop)
        return any(isinstance(s, AtrMultiple) for s in stops)

    @property
    def inverse(self) -> bool:
        return self.contract == "inverse"

    @property
    def liquidates(self) -> bool:
        """A linear contract above 1x (at 1x it is the spot simulation, bit for bit), and any
        inverse one (an inverse long at 1x still goes bankrupt at half its entry price)."""
        return self.contract == "inverse" or (self.contract == "linear" and self.leverage > 1.0)
