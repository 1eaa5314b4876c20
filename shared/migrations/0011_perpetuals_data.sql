-- Mark-price candles of linear and inverse perpetuals: klines without volume.
CREATE TABLE mark_price_klines (
    category   text        NOT NULL CHECK (category IN ('linear', 'inverse')),
    symbol     text        NOT NULL,
    interval   text        NOT NULL,
    open_time  timestamptz NOT NULL,
    open       float8      NOT NULL,
    high       float8      NOT NULL,
    low        float8      NOT NULL,
    close      float8      NOT NULL,
    PRIMARY KEY (category, symbol, interval, open_time)
);

-- Ranges of open times (inclusive) for which the exchange had no mark-price candle.
CREATE TABLE mark_price_kline_gaps (LIKE kline_gaps INCLUDING ALL);

-- Settled fundings: at funding_time a long pays position value x rate (receives it if negative).
CREATE TABLE funding_rates (
    category      text        NOT NULL CHECK (category IN ('linear', 'inverse')),
    symbol        text        NOT NULL,
    funding_time  timestamptz NOT NULL,
    rate          float8      NOT NULL,
    PRIMARY KEY (category, symbol, funding_time)
);

-- What instruments-info says of a perpetual, as of the last backfill that read it.
CREATE TABLE instruments (
    category          text        NOT NULL,
    symbol            text        NOT NULL,
    funding_interval  integer,              -- minutes between fundings
    min_leverage      float8,
    max_leverage      float8,
    leverage_step     float8,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (category, symbol)
);

-- Its risk-limit tiers (GET /v5/market/risk-limit); rates are fractions.
CREATE TABLE risk_limit_tiers (
    category            text    NOT NULL,
    symbol              text    NOT NULL,
    tier_id             integer NOT NULL,
    risk_limit_value    float8  NOT NULL,
    maintenance_margin  float8  NOT NULL,
    initial_margin      float8  NOT NULL,
    is_lowest_risk      boolean NOT NULL,
    max_leverage        float8  NOT NULL,
    mm_deduction        float8  NOT NULL,
    PRIMARY KEY (category, symbol, tier_id),
    FOREIGN KEY (category, symbol) REFERENCES instruments (category, symbol) ON DELETE CASCADE
);

-- What a backfill fetches besides the candles: 'mark_price', 'funding'.
ALTER TABLE backfill_run ADD COLUMN include text[] NOT NULL DEFAULT '{}';
-- Funding history is paged backwards: the next endTime to ask for (before start_time: done).
ALTER TABLE backfill_progress ADD COLUMN funding_cursor_time timestamptz;

-- The audit keeps every page, whichever endpoint it came from; only candle feeds have an interval.
ALTER TABLE bybit_kline_audit ADD COLUMN feed text NOT NULL DEFAULT 'kline'
    CHECK (feed IN ('kline', 'mark_price', 'funding', 'instrument', 'risk_limit'));
ALTER TABLE bybit_kline_audit ALTER COLUMN interval DROP NOT NULL;
