-- Raw pages are written at ingest speed and rarely read: lz4 compresses them about 4x faster
-- than the default pglz.
ALTER TABLE bybit_kline_audit ALTER COLUMN body SET COMPRESSION lz4;
