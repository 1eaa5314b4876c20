"""Candles in PostgreSQL's binary COPY format, both ways, built in numpy without per-row objects.

Rows are (open_time timestamptz, open, high, low, close, volume, turnover float8), optionally
after constant text columns (the series' category, symbol and interval). Mark-price candles
have no volume: they are the same rows with only the fields (open, high, low, close).
"""

import numpy as np

from domain.market.candles import PRICE_FIELDS, Candles

# PostgreSQL's binary timestamps count microseconds from 2000-01-01.
PG_EPOCH_MS = 946_684_800_000
_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
_HEADER = _SIGNATURE + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
_TRAILER = (-1).to_bytes(2, "big", signed=True)
COLUMNS = ("open_time", *PRICE_FIELDS)
MARK_PRICE_FIELDS = ("open", "high", "low", "close")


def _values(fields: tuple[str, ...]) -> list[tuple[str, str]]:
    return [("time_len", ">i4"), ("time", ">i8")] + [
        item for i in range(len(fields)) for item in ((f"len{i}", ">i4"), (f"v{i}", ">f8"))
    ]


def encode(
    candles: Candles, texts: tuple[str, ...] = (), fields: tuple[str, ...] = PRICE_FIELDS
) -> bytes:
    """Rows of `texts` (the same in every row) followed by open_time and `fields`."""
    encoded = [text.encode() for text in texts]
    text_fields = [
        item
        for i, raw in enumerate(encoded)
        for item in ((f"tlen{i}", ">i4"), (f"t{i}", f"S{len(raw)}"))
    ]
    row_type = np.dtype([("fields", ">i2"), *text_fields, *_values(fields)])
    rows = np.empty(len(candles), dtype=row_type)
    rows["fields"] = len(texts) + 1 + len(fields)
    for i, raw in enumerate(encoded):
        rows[f"tlen{i}"] = len(raw)
        rows[f"t{i}"] = raw
    rows["time_len"] = 8
    rows["time"] = (candles.open_time - PG_EPOCH_MS) * 1000
    for i, name in enumerate(fields):
        rows[f"len{i}"] = 8
        rows[f"v{i}"] = getattr(candles, name)
    return _HEADER + rows.tobytes() + _TRAILER


def decode(payload: bytes, fields: tuple[str, ...] = PRICE_FIELDS) -> Candles:
    """The output of `COPY (SELECT open_time, <fields> ...) TO STDOUT (FORMAT binary)`; no
    NULLs. Fields left out (a mark price's volume) come back as zeros."""
    if not payload.startswith(_SIGNATURE):
        raise ValueError("not a binary COPY payload")
    extension = int.from_bytes(payload[15:19], "big")
    body = memoryview(payload)[19 + extension : len(payload) - len(_TRAILER)]
    rows = np.frombuffer(body, dtype=np.dtype([("fields", ">i2"), *_values(fields)]))
    if len(rows) and not (rows["fields"] == 1 + len(fields)).all():
        raise ValueError("unexpected columns in the COPY payload")
    open_time = rows["time"] // 1000 + PG_EPOCH_MS
    given = {name: rows[f"v{i}"].astype(np.float64) for i, name in enumerate(fields)}
    zeros = np.zeros(len(rows), np.float64)
    return Candles(open_time.astype(np.int64), *(given.get(f, zeros) for f in PRICE_FIELDS))
