"""A batch of candles as columns: the one in-memory shape shared by ingest, store and engine."""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

PRICE_FIELDS = ("open", "high", "low", "close", "volume", "turnover")


@dataclass(frozen=True)
class Candles:
    open_time: npt.NDArray[np.int64]  # epoch ms, ascending, unique
    open: npt.NDArray[np.float64]
    high: npt.NDArray[np.float64]
    low: npt.NDArray[np.float64]
    close: npt.NDArray[np.float64]
    volume: npt.NDArray[np.float64]
    turnover: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.open_time)

    @classmethod
    def empty(cls) -> "Candles":
        return cls(np.empty(0, np.int64), *(np.empty(0, np.float64) for _ in PRICE_FIELDS))

    @classmethod
    def concat(cls, parts: "list[Candles]") -> "Candles":
        if not parts:
            return cls.empty()
        return cls(
            np.concatenate([p.open_time for p in parts]),
            *(np.concatenate([getattr(p, f) for p in parts]) for f in PRICE_FIELDS),
        )

    def select(self, mask: npt.NDArray[np.bool_] | npt.NDArray[np.intp]) -> "Candles":
        return Candles(self.open_time[mask], *(getattr(self, f)[mask] for f in PRICE_FIELDS))
