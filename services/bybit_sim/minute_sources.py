"""Where 1-minute candles come from: a seeded random walk, or a file of real candles.

Both hand out whole UTC days (1440 rows), so any range costs only the days it touches.
"""

import math
from pathlib import Path
from typing import Protocol

import numpy as np
import polars as pl
from numpy.typing import NDArray

from domain.market.intervals import DAY_MS, MINUTE_MS
from services.bybit_sim.bars import Bars
from services.bybit_sim.instruments import Instrument, make_instrument, stable_int

MINUTES_PER_DAY = 1440
_MINUTE_OFFSETS = np.arange(MINUTES_PER_DAY, dtype=np.int64) * MINUTE_MS
_ANCHOR_DAY = 14_610  # 2010-01-01: the walk starts here, so it does not depend on history_start
_CHUNK_DAYS = 4096
_DAILY_VOL = 0.03
_MEAN_REVERSION = 0.995  # per day, so prices stay near their level over years
_CATEGORY_CODES = {"spot": 1, "linear": 2, "inverse": 3}


class MinuteSource(Protocol):
    instrument: Instrument
    first_ms: int  # no minute exists before
    last_ms: int | None  # nor after, when set

    def day(self, day_index: int) -> Bars: ...


class RandomWalk:
    """A geometric random walk keyed only on (seed, category, symbol).

    Day-level log prices come first (a mean-reverting walk); each day's minutes are a
    Brownian bridge between its two day levels with their own RNG, so days are independent
    and a day costs the same wherever it lies.
    """

    def __init__(self, seed: int, instrument: Instrument, first_ms: int) -> None:
        self.instrument = instrument
        self.first_ms = first_ms
        self.last_ms: int | None = None
        self._key = [seed, _CATEGORY_CODES[instrument.category], stable_int(instrument.symbol)]
        self._levels = np.array([math.log(instrument.base_price)])

    def _day_levels(self, offset: int) -> tuple[float, float]:
        while len(self._levels) <= offset + 1:
            chunk = (len(self._levels) - 1) // _CHUNK_DAYS
            noise = np.random.default_rng([*self._key, 1, chunk]).standard_normal(_CHUNK_DAYS)
            mean = math.log(self.instrument.base_price)
            level = float(self._levels[-1])
            new = np.empty(_CHUNK_DAYS)
            for i, eps in enumerate((noise * _DAILY_VOL).tolist()):
                level = mean + _MEAN_REVERSION * (level - mean) + eps
                new[i] = level
            self._levels = np.concatenate([self._levels, new])
        return float(self._levels[offset]), float(self._levels[offset + 1])

    def day(self, day_index: int) -> Bars:
        offset = day_index - _ANCHOR_DAY
        if offset < 0:
            raise ValueError("the random walk starts on 2010-01-01")
        start_level, end_level = self._day_levels(offset)
        inst = self.instrument
        rng = np.random.default_rng([*self._key, 2, day_index])
        normals = rng.standard_normal((3, MINUTES_PER_DAY))
        minute_vol = _DAILY_VOL / math.sqrt(MINUTES_PER_DAY)
        walk = np.cumsum(normals[0] * minute_vol)
        fraction = np.arange(1, MINUTES_PER_DAY + 1) / MINUTES_PER_DAY
        bridge = start_level + walk - fraction * walk[-1] + fraction * (end_level - start_level)
        log_prices = np.concatenate([[start_level], bridge])
        tick = 10.0**inst.price_decimals
        ticks = np.maximum(np.rint(np.exp(log_prices) * tick), 1).astype(np.int64)
        open_, close = ticks[:-1], ticks[1:]
        wick = np.abs(normals[1:]) * minute_vol * 0.8 * open_
        high = np.maximum(open_, close) + np.rint(wick[0]).astype(np.int64)
        low = np.maximum(np.minimum(open_, close) - np.rint(wick[1]).astype(np.int64), 1)
        lot = 10.0**inst.volume_decimals
        volume_units = np.exp(rng.normal(math.log(inst.minute_volume), 0.7, MINUTES_PER_DAY))
        volume = np.maximum(np.rint(volume_units * lot), 1).astype(np.int64)
        turnover = turnover_of(inst, open_, high, low, close, volume)
        open_time = day_index * DAY_MS + _MINUTE_OFFSETS
        exists = np.ones(MINUTES_PER_DAY, np.bool_)
        return Bars(open_time, open_, high, low, close, volume, turnover, exists)


def turnover_of(
    inst: Instrument,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
) -> NDArray[np.int64]:
    """Turnover at the typical price: quote value (linear, spot) or base coins (inverse)."""
    price = (open_ + high + low + close) / 4 / 10.0**inst.price_decimals
    amount = volume / 10.0**inst.volume_decimals
    value = amount / price if inst.inverse else amount * price
    turnover: NDArray[np.int64] = np.rint(value * 10.0**inst.turnover_decimals).astype(np.int64)
    return turnover


def decimals_of(values: np.ndarray, most: int = 8) -> int:
    """The fewest decimals that hold every value exactly (at most `most`)."""
    for decimals in range(most + 1):
        scaled = values * 10.0**decimals
        if np.all(np.abs(scaled - np.rint(scaled)) <= 1e-9 * np.abs(scaled) + 1e-6):
            return decimals
    return most


class FileMinutes:
    """1-minute candles from a CSV or Parquet file: open_time(ms),open,high,low,close,volume
    [,turnover]. Minutes missing from the file don't exist."""

    def __init__(self, path: Path, category: str, symbol: str, history_start_ms: int) -> None:
        frame = pl.read_parquet(path) if path.suffix == ".parquet" else pl.read_csv(path)
        frame = frame.sort("open_time").unique("open_time", keep="first", maintain_order=True)
        open_time = frame["open_time"].cast(pl.Int64).to_numpy()
        if len(open_time) == 0 or np.any(open_time % MINUTE_MS):
            raise ValueError(f"{path}: open_time must be whole minutes (ms) and not empty")
        prices = {c: frame[c].cast(pl.Float64).to_numpy() for c in ("open", "high", "low", "close")}
        volume = frame["volume"].cast(pl.Float64).to_numpy()
        price_decimals = decimals_of(np.concatenate(list(prices.values())))
        volume_decimals = decimals_of(volume)
        first_ms = max(int(open_time[0]), history_start_ms)
        base = make_instrument(category, symbol, first_ms)
        has_turnover = "turnover" in frame.columns
        turnover_raw = frame["turnover"].cast(pl.Float64).to_numpy() if has_turnover else None
        self.instrument = Instrument(
            category=category,
            symbol=symbol,
            base_coin=base.base_coin,
            quote_coin=base.quote_coin,
            price_decimals=price_decimals,
            volume_decimals=volume_decimals,
            turnover_decimals=decimals_of(turnover_raw) if turnover_raw is not None else 4,
            base_price=float(prices["close"][0]),
            launch_ms=first_ms,
            funding_interval=base.funding_interval,
            max_leverage=base.max_leverage,
        )
        self.first_ms = first_ms
        self.last_ms: int | None = int(open_time[-1])
        self._first_day = int(open_time[0]) // DAY_MS
        n_days = int(open_time[-1]) // DAY_MS - self._first_day + 1
        rows = (open_time - self._first_day * DAY_MS) // MINUTE_MS
        size = n_days * MINUTES_PER_DAY

        def dense(values: np.ndarray, decimals: int) -> np.ndarray:
            out = np.zeros(size, np.int64)
            out[rows] = np.rint(values * 10.0**decimals).astype(np.int64)
            return out

        pd = price_decimals
        columns = {name: dense(values, pd) for name, values in prices.items()}
        columns["volume"] = dense(volume, volume_decimals)
        if turnover_raw is not None:
            columns["turnover"] = dense(turnover_raw, self.instrument.turnover_decimals)
        else:
            columns["turnover"] = turnover_of(self.instrument, *(columns[c] for c in _OHLCV))
        self._columns = columns
        self._exists = np.zeros(size, np.bool_)
        self._exists[rows] = True
        self._days = n_days

    def day(self, day_index: int) -> Bars:
        open_time = day_index * DAY_MS + _MINUTE_OFFSETS
        offset = day_index - self._first_day
        if not 0 <= offset < self._days:
            zeros = np.zeros(MINUTES_PER_DAY, np.int64)
            missing = np.zeros(MINUTES_PER_DAY, np.bool_)
            return Bars(open_time, zeros, zeros, zeros, zeros, zeros, zeros, missing)
        rows = slice(offset * MINUTES_PER_DAY, (offset + 1) * MINUTES_PER_DAY)
        c = self._columns
        return Bars(
            open_time,
            c["open"][rows],
            c["high"][rows],
            c["low"][rows],
            c["close"][rows],
            c["volume"][rows],
            c["turnover"][rows],
            self._exists[rows],
        )


_OHLCV = ("open", "high", "low", "close", "volume")
