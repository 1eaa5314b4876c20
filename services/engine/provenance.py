"""What a result ran on, as digests anyone can recompute, and which parts of two runs differ.

Candles: sha256 over each candle in time order as little-endian int64 open_time then float64
open, high, low, close, volume, turnover (48 bytes a candle). Strategy: the plugin file's
sha256, or the sha256 of the resolved definition as canonical JSON (keys sorted, no spaces).
Pure; runs in the pool beside the simulation, or off the event loop.
"""

import functools
import hashlib
import json
from collections.abc import Sequence
from importlib import metadata
from typing import Any

import numpy as np
import numpy.typing as npt

from domain.market.candles import PRICE_FIELDS, Candles
from domain.market.intervals import iso_utc
from domain.portfolio_backtest import SymbolSeries
from domain.strategies.definitions import definition_of
from shared.backtest_spec import StrategyRef

# The parts of a backtest a rerun compares, in the order `differences` names them; a
# backtest stores the digests of all but the equity (`equity_sha256`).
COMPARED = ("candles", "metrics", "trades", "equity")
_CANDLE = np.dtype([("open_time", "<i8"), *((f, "<f8") for f in PRICE_FIELDS)])


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# Candles packed and hashed this many at a time: a buffer that stays in the CPU's cache
# instead of a copy of every candle (a year of minutes is 25 MB) and another of its bytes.
_PACKED_PER_UPDATE = 8_192


def candles_sha256(candles: Candles) -> str:
    """The sha256 of the candles packed as the module's docstring says."""
    digest = hashlib.sha256()
    count = len(candles)
    packed = np.empty(min(count, _PACKED_PER_UPDATE), _CANDLE)
    columns = [("open_time", candles.open_time)]
    columns += [(name, getattr(candles, name)) for name in PRICE_FIELDS]
    for first in range(0, count, _PACKED_PER_UPDATE):
        stop = min(first + _PACKED_PER_UPDATE, count)
        part = packed[: stop - first]
        for name, column in columns:
            part[name] = column[first:stop]
        digest.update(part.view(np.uint8).data)
    return digest.hexdigest()


def candles_provenance(candles: Candles) -> dict[str, Any]:
    """{count, first, last, sha256} of the candles, oldest first."""
    count = len(candles)
    return {
        "count": count,
        "first": iso_utc(int(candles.open_time[0])) if count else None,
        "last": iso_utc(int(candles.open_time[-1])) if count else None,
        "sha256": candles_sha256(candles),
    }


class CandlesDigests:
    """The `candles_provenance` of the candles last asked about, kept with them: candles
    bit-identical to those (the same range loaded again, unchanged) reuse it, a comparison
    several times cheaper than hashing them again (a year of minutes is 25 MB)."""

    def __init__(self) -> None:
        self._last: tuple[Candles, dict[str, Any]] | None = None

    def of(self, candles: Candles) -> dict[str, Any]:
        last = self._last
        if last is not None and _same_bits(last[0], candles):
            return last[1]
        made = candles_provenance(candles)
        self._last = (candles, made)
        return made


def _same_bits(a: Candles, b: Candles) -> bool:
    if len(a) != len(b):
        return False
    return all(
        np.array_equal(getattr(a, name).view(np.int64), getattr(b, name).view(np.int64))
        for name in ("open_time", *PRICE_FIELDS)
    )


def strategy_sha256(strategy: StrategyRef) -> str:
    entry = strategy.entry()
    if entry.plugin is not None:
        return entry.plugin.sha256
    definition = strategy.definition or definition_of(entry).as_json()
    # An inline definition's `name` is a label: the same rules hash the same, named or not.
    return sha256_hex(canonical_json({k: v for k, v in definition.items() if k != "name"}))


@functools.cache
def engine_version() -> str:
    """The installed package's version, read once per process (the code it runs is the one
    it imported, whatever is installed later)."""
    return metadata.version("backtester")


def provenance(candles: dict[str, Any], strategy_digest: str) -> dict[str, Any]:
    """With the candles' `candles_provenance` and the strategy's `strategy_sha256`."""
    return {
        "candles": candles,
        "strategy_sha256": strategy_digest,
        "engine_version": engine_version(),
    }


def arrays_sha256(*arrays: npt.NDArray[Any]) -> str:
    """Of the arrays' bytes (little-endian), one after the other."""
    digest = hashlib.sha256()
    for array in arrays:
        _update(digest, array)
    return digest.hexdigest()


def _update(digest: "hashlib._Hash", array: npt.NDArray[Any]) -> None:
    # A little-endian contiguous array is hashed where it lies, not copied.
    digest.update(np.ascontiguousarray(array, array.dtype.newbyteorder("<")).data)


def equity_sha256(times: npt.NDArray[np.int64], equity: npt.NDArray[np.float64]) -> str:
    """A rerun's `equity` part: sha256 over the curve's bar times then its values, as the
    equity table stores them (so a backtest's own is recomputed from there when its rerun
    asks). Hashed only when a rerun compares: 4 MB for a year of minutes, a fifth of the
    backtest's own time, and no other reader."""
    return arrays_sha256(times, equity)


def differences(original: dict[str, str], rerun: dict[str, str]) -> list[str]:
    """The compared parts whose digests differ (bit-identical runs: none)."""
    return [part for part in COMPARED if original.get(part) != rerun.get(part)]


def portfolio_provenance(series: Sequence[SymbolSeries], strategy_digest: str) -> dict[str, Any]:
    """A portfolio's provenance: each symbol's candles under `symbols`, and as `candles` their
    total count, first and last time, and the sha256 of their sha256s in order."""
    digests = {one.symbol: candles_provenance(one.candles) for one in series}
    candles = {
        "count": sum(d["count"] for d in digests.values()),
        "first": min((d["first"] for d in digests.values() if d["first"]), default=None),
        "last": max((d["last"] for d in digests.values() if d["last"]), default=None),
        "sha256": sha256_hex(canonical_json([d["sha256"] for d in digests.values()])),
    }
    return {**provenance(candles, strategy_digest), "symbols": digests}
