"""A backtest's trades as columns, and as the `trades` table's rows in PostgreSQL's binary COPY
format, built in numpy without per-row objects.

A binary COPY row is as wide as its values: a text as long as its bytes, a NULL nothing but
its length (-1). Rows alike in their texts and NULLs (one layout: the same side, exit reason
and symbol, open or closed, with or without a return on equity) are one fixed-width numpy
record each, so the rows go layout by layout; `seq` keeps their order in the table.
"""

from dataclasses import dataclass
from uuid import UUID

import numpy as np
import numpy.typing as npt

from domain.execution.settings import EXIT_REASONS
from shared.candle_copy import PG_EPOCH_MS

_HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
_TRAILER = (-1).to_bytes(2, "big", signed=True)
_SIDES = ("short", "long")  # by side > 0


@dataclass(frozen=True)
class TradeColumns:
    """The trades as stored (shared.repos.backtests.TRADE_COLUMNS after backtest_id and seq),
    a column each, in the order of `seq`."""

    side: npt.NDArray[np.int8]  # > 0 long, else short
    entry_time: npt.NDArray[np.int64]  # epoch ms
    entry_price: npt.NDArray[np.float64]
    exit_time: npt.NDArray[np.int64]  # epoch ms; < 0 while open: exit_time and exit_price null
    exit_price: npt.NDArray[np.float64]
    qty: npt.NDArray[np.float64]
    pnl: npt.NDArray[np.float64]
    returns: npt.NDArray[np.float64]
    fees: npt.NDArray[np.float64]
    exit_reason: npt.NDArray[np.int8]  # index into EXIT_REASONS
    funding: npt.NDArray[np.float64]
    equity_return: npt.NDArray[np.float64]  # null where not finite
    mae: npt.NDArray[np.float64]
    mfe: npt.NDArray[np.float64]
    bars_held: npt.NDArray[np.int64]
    entry_order: str  # every trade's
    symbols: tuple[str, ...]  # the names `symbol` indexes
    symbol: npt.NDArray[np.intp]  # index into `symbols`

    def __len__(self) -> int:
        return int(self.side.size)


@dataclass(frozen=True)
class _Fixed:
    """A fixed-width column: its values in PostgreSQL's binary type, NULL where `null`."""

    values: npt.NDArray[np.generic]
    null: npt.NDArray[np.bool_] | None = None


@dataclass(frozen=True)
class _Text:
    """A text column: each row's index into `labels`."""

    codes: npt.NDArray[np.intp]
    labels: tuple[bytes, ...]


def _pg_time(ms: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Epoch ms as PostgreSQL's binary timestamptz: microseconds since 2000-01-01."""
    return (ms - PG_EPOCH_MS) * 1000


def encode(backtest_id: UUID, t: TradeColumns) -> bytes:
    """The rows of `trades` for the backtest, seq counting from 0, with a header and trailer."""
    n = len(t)
    still_open = t.exit_time < 0
    one = np.zeros(n, np.intp)
    columns: list[_Fixed | _Text] = [
        _Fixed(np.full(n, backtest_id.bytes, "S16")),
        _Fixed(np.arange(n, dtype=">i4")),
        _Text((t.side > 0).astype(np.intp), tuple(s.encode() for s in _SIDES)),
        _Fixed(_pg_time(t.entry_time).astype(">i8")),
        _Fixed(t.entry_price.astype(">f8")),
        _Fixed(_pg_time(t.exit_time).astype(">i8"), still_open),
        _Fixed(t.exit_price.astype(">f8"), still_open),
        _Fixed(t.qty.astype(">f8")),
        _Fixed(t.pnl.astype(">f8")),
        _Fixed(t.returns.astype(">f8")),
        _Fixed(t.fees.astype(">f8")),
        _Text(t.exit_reason.astype(np.intp), tuple(r.encode() for r in EXIT_REASONS)),
        _Fixed(t.funding.astype(">f8")),
        _Fixed(t.equity_return.astype(">f8"), ~np.isfinite(t.equity_return)),
        _Fixed(t.mae.astype(">f8")),
        _Fixed(t.mfe.astype(">f8")),
        _Fixed(t.bars_held.astype(">i4")),
        _Text(one, (t.entry_order.encode(),)),
        _Text(t.symbol.astype(np.intp), tuple(s.encode() for s in t.symbols)),
    ]
    # Each row's layout as one number: its NULLs and the index of each of its texts.
    layout_of = np.zeros(n, np.int64)
    for column in columns:
        if isinstance(column, _Text):
            layout_of = layout_of * len(column.labels) + column.codes
        elif column.null is not None:
            layout_of = layout_of * 2 + column.null
    layouts, of_row = np.unique(layout_of, return_inverse=True)
    parts = [_HEADER]
    for layout in range(len(layouts)):
        rows = np.flatnonzero(of_row == layout)
        parts.append(_layout_rows(columns, rows[0], rows).tobytes())
    parts.append(_TRAILER)
    return b"".join(parts)


def _layout_rows(
    columns: list[_Fixed | _Text], first: int, rows: npt.NDArray[np.intp]
) -> npt.NDArray[np.void]:
    """`rows` (all of one layout, that of row `first`) as binary COPY records."""
    fields: list[tuple[str, str | np.dtype[np.generic]]] = [("count", ">i2")]
    values: dict[str, object] = {"count": len(columns)}
    for i, column in enumerate(columns):
        fields.append((f"len{i}", ">i4"))
        if isinstance(column, _Text):
            text = column.labels[column.codes[first]]
            values[f"len{i}"] = len(text)
            if text:
                fields.append((f"v{i}", f"S{len(text)}"))
                values[f"v{i}"] = text
        elif column.null is not None and column.null[first]:
            values[f"len{i}"] = -1
        else:
            fields.append((f"v{i}", column.values.dtype))
            values[f"len{i}"] = column.values.dtype.itemsize
            values[f"v{i}"] = column.values[rows]
    records = np.empty(len(rows), np.dtype(fields))
    for name, value in values.items():
        records[name] = value
    return records
