-- A saved strategy: a built-in strategy with chosen parameters, under a name of its own.
CREATE TABLE strategies (
    id          uuid        PRIMARY KEY,
    name        text        NOT NULL UNIQUE,
    strategy    text        NOT NULL,
    params      jsonb       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE backtests (
    id           uuid        PRIMARY KEY,
    status       text        NOT NULL DEFAULT 'queued'
                 CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    request      jsonb       NOT NULL,  -- the full request, defaults filled in
    symbol       text        NOT NULL,
    strategy     text        NOT NULL,
    metrics      jsonb,
    error        text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    started_at   timestamptz,
    finished_at  timestamptz
);
CREATE INDEX backtests_created ON backtests (created_at DESC, id);
CREATE INDEX backtests_filter ON backtests (status, symbol, strategy);

CREATE TABLE trades (
    backtest_id  uuid        NOT NULL REFERENCES backtests (id) ON DELETE CASCADE,
    seq          integer     NOT NULL,
    side         text        NOT NULL CHECK (side IN ('long', 'short')),
    entry_time   timestamptz NOT NULL,
    entry_price  float8      NOT NULL,
    exit_time    timestamptz,
    exit_price   float8,
    qty          float8      NOT NULL,
    pnl          float8      NOT NULL,
    return       float8      NOT NULL,
    fees         float8      NOT NULL,
    PRIMARY KEY (backtest_id, seq)
);

-- The equity curve, compact: little-endian int64 open times (ms) and float64 equity, 16 bytes a bar.
CREATE TABLE equity (
    backtest_id  uuid        PRIMARY KEY REFERENCES backtests (id) ON DELETE CASCADE,
    points       integer     NOT NULL,
    times        bytea       NOT NULL,
    values       bytea       NOT NULL
);

CREATE TABLE optimizations (
    id             uuid        PRIMARY KEY,
    status         text        NOT NULL DEFAULT 'queued'
                   CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    kind           text        NOT NULL CHECK (kind IN ('grid', 'walk_forward')),
    request        jsonb       NOT NULL,
    progress_done  integer     NOT NULL DEFAULT 0,
    progress_total integer     NOT NULL,
    skipped        integer     NOT NULL DEFAULT 0,
    best           jsonb,
    walk_forward   jsonb,
    error          text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    started_at     timestamptz,
    finished_at    timestamptz
);
CREATE INDEX optimizations_created ON optimizations (created_at DESC, id);

-- One row per parameter set (grid) or per window (walk-forward); row_key makes writes idempotent.
CREATE TABLE optimization_results (
    optimization_id uuid   NOT NULL REFERENCES optimizations (id) ON DELETE CASCADE,
    row_key         text   NOT NULL,
    row             jsonb  NOT NULL,
    PRIMARY KEY (optimization_id, row_key)
);
