-- Candles as stored: one row per (category, symbol, interval, open time); only closed candles.
CREATE TABLE klines (
    category   text        NOT NULL,
    symbol     text        NOT NULL,
    interval   text        NOT NULL,
    open_time  timestamptz NOT NULL,
    open       float8      NOT NULL,
    high       float8      NOT NULL,
    low        float8      NOT NULL,
    close      float8      NOT NULL,
    volume     float8      NOT NULL,
    turnover   float8      NOT NULL,
    PRIMARY KEY (category, symbol, interval, open_time)
);

-- Ranges of open times (inclusive) for which the exchange had no candle.
CREATE TABLE kline_gaps (
    category   text        NOT NULL,
    symbol     text        NOT NULL,
    interval   text        NOT NULL,
    gap_start  timestamptz NOT NULL,
    gap_end    timestamptz NOT NULL,
    found_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (category, symbol, interval, gap_start),
    CHECK (gap_end >= gap_start)
);

-- Every page or message received from Bybit, as received.
CREATE TABLE bybit_kline_audit (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source       text        NOT NULL CHECK (source IN ('rest', 'ws')),
    category     text        NOT NULL,
    symbol       text        NOT NULL,
    interval     text        NOT NULL,
    request      text        NOT NULL,
    body         text        NOT NULL,
    backfill_id  uuid,
    received_at  timestamptz NOT NULL
);
CREATE INDEX bybit_kline_audit_series ON bybit_kline_audit (category, symbol, interval, received_at);

CREATE TABLE backfill_run (
    id           uuid        PRIMARY KEY,
    category     text        NOT NULL,
    symbol       text        NOT NULL,
    interval     text        NOT NULL,
    start_time   timestamptz NOT NULL,
    end_time     timestamptz NOT NULL,
    status       text        NOT NULL DEFAULT 'queued'
                 CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    error        text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    started_at   timestamptz,
    finished_at  timestamptz,
    CHECK (end_time > start_time)
);
CREATE INDEX backfill_run_created ON backfill_run (created_at DESC);

-- Written in the same transaction as the candles it accounts for, so a restart resumes exactly.
CREATE TABLE backfill_progress (
    backfill_id  uuid        PRIMARY KEY REFERENCES backfill_run (id) ON DELETE CASCADE,
    cursor_time  timestamptz NOT NULL,  -- the next open time to fetch
    rows_written bigint      NOT NULL DEFAULT 0,
    pages_done   integer     NOT NULL DEFAULT 0,
    pages_total  integer     NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Messages to publish, written in the transaction that creates the work (or the result) they announce.
CREATE TABLE outbox (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id    uuid        NOT NULL UNIQUE,
    exchange      text        NOT NULL CHECK (exchange IN ('commands', 'events')),
    message_type  text        NOT NULL,
    body          jsonb       NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz
);
CREATE INDEX outbox_pending ON outbox (id) WHERE published_at IS NULL;
