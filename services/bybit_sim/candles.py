"""CandleBook: every candle the simulated exchange has, for any interval, at any sim time.

Higher intervals are exact aggregates of the 1-minute candles, so all intervals agree.
"""

from collections import OrderedDict
from typing import Any

import numpy as np
from numpy.typing import NDArray

from domain.market.intervals import (
    DAY_MS,
    MINUTE_MS,
    add_intervals,
    ceil_open_time,
    floor_open_time,
    open_times,
)
from services.bybit_sim.bars import Bars, group
from services.bybit_sim.instruments import Instrument, make_instrument
from services.bybit_sim.mark_prices import MarkPriceMinutes
from services.bybit_sim.minute_sources import FileMinutes, MinuteSource, RandomWalk
from services.bybit_sim.settings import SimSettings

CANDLE_DTYPE = np.dtype(
    [
        ("open_time", np.int64),
        ("open", np.float64),
        ("high", np.float64),
        ("low", np.float64),
        ("close", np.float64),
        ("volume", np.float64),
        ("turnover", np.float64),
    ]
)
_CALENDAR_INTERVALS = ("D", "W", "M")
_BLOCK_CACHE_DAYS = 512
Key = tuple[str, str]


def decimal_strings(values: NDArray[np.float64]) -> list[str]:
    """Bybit-style decimal strings ("17071", "0.0001") that parse back to the very same floats."""
    magnitudes = np.abs(values[values != 0])
    if magnitudes.size and (magnitudes.min() < 1e-4 or magnitudes.max() >= 1e16):
        return [np.format_float_positional(v, trim="-") for v in values.tolist()]
    # repr is the shortest round-tripping form, and has no exponent in this range.
    return [text[:-2] if text[-2:] == ".0" else text for text in map(repr, values.tolist())]


class CandleBook:
    """Pure and deterministic: answers depend on the settings and the `now_ms` passed in.

    With `mark_price`, the candles of linear and inverse symbols are their mark prices."""

    def __init__(self, settings: SimSettings, *, mark_price: bool = False) -> None:
        self._sources: dict[Key, MinuteSource] = {}
        listed = list(settings.symbols)
        if settings.data_file is not None and settings.data_symbol not in listed:
            listed.append(settings.data_symbol)
        for item in listed:
            category, symbol = item.split(":", 1)
            if settings.data_file is not None and item == settings.data_symbol:
                self._sources[category, symbol] = FileMinutes(
                    settings.data_file, category, symbol, settings.history_start
                )
            else:
                inst = make_instrument(category, symbol, settings.history_start)
                self._sources[category, symbol] = RandomWalk(settings.seed, inst, inst.launch_ms)
            if mark_price and category != "spot":
                self._sources[category, symbol] = MarkPriceMinutes(
                    settings.seed, self._sources[category, symbol]
                )
        self._gaps: dict[Key, list[tuple[int, int]]] = {}
        for category, symbol, start, end in settings.gap_ranges():
            self._gaps.setdefault((category, symbol), []).append((start, end))
        self._blocks: OrderedDict[tuple[Key, int], Bars] = OrderedDict()
        self._daily: dict[Key, dict[int, tuple[int, ...]]] = {}

    # --- what is listed -------------------------------------------------------------------

    def instrument(self, category: str, symbol: str) -> Instrument | None:
        source = self._sources.get((category, symbol))
        return source.instrument if source else None

    def instruments(self, category: str) -> list[Instrument]:
        found = [s.instrument for (c, _), s in self._sources.items() if c == category]
        return sorted(found, key=lambda inst: inst.symbol)

    # --- public candle queries ------------------------------------------------------------

    def closed_candles(
        self, category: str, symbol: str, interval: str, start_ms: int, end_ms: int, now_ms: int
    ) -> NDArray[Any]:
        """The closed candles opening in [start_ms, end_ms] at sim time now_ms, oldest first:
        exactly what the REST API serves for that range (minus the candle in progress)."""
        key = self._key(category, symbol)
        first, last = self._bounds(key, interval, start_ms, end_ms)
        last = min(last, add_intervals(floor_open_time(now_ms, interval), interval, -1))
        return self._structured(key, self._history(key, interval, first, last).existing())

    def candle_in_progress(
        self, category: str, symbol: str, interval: str, now_ms: int
    ) -> NDArray[Any]:
        """The candle containing now_ms as it stands then (0 or 1 rows)."""
        key = self._key(category, symbol)
        return self._structured(key, self._in_progress(key, interval, now_ms).existing())

    def kline_rows(
        self,
        category: str,
        symbol: str,
        interval: str,
        start_ms: int | None,
        end_ms: int | None,
        limit: int,
        now_ms: int,
    ) -> list[list[str]]:
        """The `result.list` of /v5/market/kline: newest first, the candle in progress included.

        With only `start`, the `limit` oldest candles from it; otherwise the `limit` newest
        up to `end` (or now) and not before `start`.
        """
        key = self._key(category, symbol)
        bars = self._page(key, interval, start_ms, end_ms, limit, now_ms)
        return self._strings(key, bars)[::-1]

    def ws_candles(
        self, category: str, symbol: str, interval: str, since_open_ms: int, now_ms: int
    ) -> list[dict[str, object]]:
        """Kline push data at now_ms: every candle opening at or after since_open_ms that has
        closed (confirm true, oldest first), then the one in progress (confirm false)."""
        key = self._key(category, symbol)
        current = floor_open_time(now_ms, interval)
        closed = Bars.empty()
        if since_open_ms < current:
            last_closed = add_intervals(current, interval, -1)
            first, last = self._bounds(key, interval, since_open_ms, last_closed)
            closed = self._history(key, interval, first, last).existing()
        live = self._in_progress(key, interval, now_ms).existing()
        pushes = []
        for confirm, bars in ((True, closed), (False, live)):
            for row, opened in zip(self._strings(key, bars), bars.open_time.tolist(), strict=True):
                end = add_intervals(opened, interval, 1) - 1
                pushes.append(
                    {
                        "start": opened,
                        "end": end,
                        "interval": interval,
                        "open": row[1],
                        "close": row[4],
                        "high": row[2],
                        "low": row[3],
                        "volume": row[5],
                        "turnover": row[6],
                        "confirm": confirm,
                        "timestamp": now_ms,
                    }
                )
        return pushes

    # --- internals --------------------------------------------------------------------------

    def _key(self, category: str, symbol: str) -> Key:
        if (category, symbol) not in self._sources:
            raise KeyError(f"{category}:{symbol} is not listed")
        return category, symbol

    def _bounds(self, key: Key, interval: str, start_ms: int, end_ms: int) -> tuple[int, int]:
        """Aligned first and last open time in [start, end] that can hold any candle."""
        source = self._sources[key]
        first = ceil_open_time(max(start_ms, floor_open_time(source.first_ms, interval)), interval)
        last = floor_open_time(end_ms, interval)
        if source.last_ms is not None:
            last = min(last, floor_open_time(source.last_ms, interval))
        return first, last

    def _page(
        self,
        key: Key,
        interval: str,
        start_ms: int | None,
        end_ms: int | None,
        limit: int,
        now_ms: int,
    ) -> Bars:
        current = floor_open_time(now_ms, interval)
        lowest = -(2**62) if start_ms is None else start_ms
        highest = now_ms if end_ms is None else min(end_ms, now_ms)
        first, last = self._bounds(key, interval, lowest, highest)
        last = min(last, current)
        forward = start_ms is not None and end_ms is None
        found: list[Bars] = []
        count = 0
        # Step window by window so that gaps don't shorten the page.
        while count < limit and first <= last:
            need = limit - count
            if forward:
                a, b = first, min(last, add_intervals(first, interval, need - 1))
                first = add_intervals(b, interval, 1)
            else:
                a, b = max(first, add_intervals(last, interval, -(need - 1))), last
                last = add_intervals(a, interval, -1)
            bars = self._span(key, interval, a, b, now_ms, current)
            found.append(bars)
            count += len(bars)
        if not forward:
            found.reverse()
        return Bars.concat(found)

    def _span(self, key: Key, interval: str, a: int, b: int, now_ms: int, current: int) -> Bars:
        """Existing candles opening in [a, b] (b <= the candle in progress)."""
        closed_last = min(b, add_intervals(current, interval, -1))
        parts = [self._history(key, interval, a, closed_last).existing()]
        if a <= current <= b:
            parts.append(self._in_progress(key, interval, now_ms).existing())
        return Bars.concat(parts)

    def _history(self, key: Key, interval: str, first: int, last: int) -> Bars:
        """Complete candles for aligned open times in [first, last], whatever the clock says."""
        if first > last:
            return Bars.empty()
        if interval not in _CALENDAR_INTERVALS:
            step = int(interval)
            minutes = self._minutes(key, first, last + step * MINUTE_MS)
            starts = np.arange(0, len(minutes), step, dtype=np.int64)
            return group(minutes, starts, first + starts * MINUTE_MS)
        opens = open_times(first, last, interval)
        stop = add_intervals(last, interval, 1)
        days = self._days(key, first // DAY_MS, stop // DAY_MS)
        return group(days, (opens - first) // DAY_MS, opens)

    def _in_progress(self, key: Key, interval: str, now_ms: int) -> Bars:
        opened = floor_open_time(now_ms, interval)
        minute = now_ms // MINUTE_MS * MINUTE_MS
        parts = []
        if interval in _CALENDAR_INTERVALS:
            today = now_ms // DAY_MS * DAY_MS
            parts.append(self._days(key, opened // DAY_MS, today // DAY_MS))
            parts.append(self._minutes(key, max(opened, today), minute))
        else:
            parts.append(self._minutes(key, opened, minute))
        parts.append(self._partial_minute(key, minute, (now_ms - minute) / MINUTE_MS))
        bars = Bars.concat(parts)
        return group(bars, np.zeros(1, np.int64), np.array([opened], np.int64))

    def _partial_minute(self, key: Key, minute: int, fraction: float) -> Bars:
        """The minute in progress: its close walks from its open to its final close."""
        block = self._minute_block(key, minute // DAY_MS)
        row = block.select(slice((minute % DAY_MS) // MINUTE_MS, None))
        o, c = int(row.open[0]), int(row.close[0])
        close = round(o + fraction * (c - o))

        def one(value: int) -> NDArray[np.int64]:
            return np.array([value], np.int64)

        return Bars(
            one(minute),
            one(o),
            one(max(o, close)),
            one(min(o, close)),
            one(close),
            one(int(row.volume[0] * fraction)),
            one(int(row.turnover[0] * fraction)),
            row.exists[:1].copy(),
        )

    def _minute_block(self, key: Key, day: int) -> Bars:
        cached = self._blocks.get((key, day))
        if cached is not None:
            self._blocks.move_to_end((key, day))
            return cached
        source = self._sources[key]
        day_start = day * DAY_MS
        if day_start + DAY_MS <= source.first_ms or (
            source.last_ms is not None and day_start > source.last_ms
        ):
            block = _missing_day(day)
        else:
            block = source.day(day)
            exists = block.exists & (block.open_time >= source.first_ms)
            if source.last_ms is not None:
                exists &= block.open_time <= source.last_ms
            for gap_start, gap_end in self._gaps.get(key, []):
                exists &= (block.open_time < gap_start) | (block.open_time >= gap_end)
            block = Bars(
                block.open_time,
                block.open,
                block.high,
                block.low,
                block.close,
                block.volume,
                block.turnover,
                exists,
            )
        self._blocks[key, day] = block
        if len(self._blocks) > _BLOCK_CACHE_DAYS:
            self._blocks.popitem(last=False)
        return block

    def _minutes(self, key: Key, start_ms: int, stop_ms: int) -> Bars:
        """1-minute rows for [start_ms, stop_ms), both minute aligned."""
        if stop_ms <= start_ms:
            return Bars.empty()
        parts = []
        for day in range(start_ms // DAY_MS, (stop_ms - 1) // DAY_MS + 1):
            block = self._minute_block(key, day)
            lo = max(start_ms - day * DAY_MS, 0) // MINUTE_MS
            hi = min(stop_ms - day * DAY_MS, DAY_MS) // MINUTE_MS
            parts.append(block if (lo, hi) == (0, 1440) else block.select(slice(lo, hi)))
        return Bars.concat(parts)

    def _days(self, key: Key, first_day: int, stop_day: int) -> Bars:
        """Daily aggregates for days [first_day, stop_day)."""
        if stop_day <= first_day:
            return Bars.empty()
        cache = self._daily.setdefault(key, {})
        rows = []
        for day in range(first_day, stop_day):
            row = cache.get(day)
            if row is None:
                block = self._minute_block(key, day)
                agg = group(block, np.zeros(1, np.int64), block.open_time[:1])
                row = tuple(int(col[0]) for col in _columns(agg))
                cache[day] = row
            rows.append(row)
        table = np.array(rows, dtype=np.int64)
        t = table.T
        return Bars(t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7].astype(np.bool_))

    def _scales(self, key: Key) -> tuple[float, float, float]:
        inst = self._sources[key].instrument
        return (
            10.0**inst.price_decimals,
            10.0**inst.volume_decimals,
            10.0**inst.turnover_decimals,
        )

    def _structured(self, key: Key, bars: Bars) -> NDArray[Any]:
        price, volume, turnover = self._scales(key)
        out = np.empty(len(bars), CANDLE_DTYPE)
        out["open_time"] = bars.open_time
        for name in ("open", "high", "low", "close"):
            out[name] = getattr(bars, name) / price
        out["volume"] = bars.volume / volume
        out["turnover"] = bars.turnover / turnover
        return out

    def _strings(self, key: Key, bars: Bars) -> list[list[str]]:
        """[startTime, open, high, low, close, volume, turnover] strings, oldest first."""
        table = self._structured(key, bars)
        columns = [list(map(str, table["open_time"].tolist()))]
        columns += [decimal_strings(table[name]) for name in CANDLE_DTYPE.names[1:]]  # type: ignore[index]
        return [list(row) for row in zip(*columns, strict=True)]


def _columns(bars: Bars) -> tuple[NDArray[Any], ...]:
    return (
        bars.open_time,
        bars.open,
        bars.high,
        bars.low,
        bars.close,
        bars.volume,
        bars.turnover,
        bars.exists,
    )


def _missing_day(day: int) -> Bars:
    open_time = day * DAY_MS + np.arange(1440, dtype=np.int64) * MINUTE_MS
    zeros = np.zeros(1440, np.int64)
    return Bars(open_time, zeros, zeros, zeros, zeros, zeros, zeros, np.zeros(1440, np.bool_))
