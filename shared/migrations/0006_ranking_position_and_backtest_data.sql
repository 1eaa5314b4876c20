-- A result row's place for the ranking's tie-break: a grid row's set in the grid's order
-- (the product of param_grid's lists, last key fastest), a walk-forward row's window.
-- Rows written before this migration have none; they rank after, by row_key.
ALTER TABLE optimization_results ADD COLUMN position integer;
UPDATE optimization_results SET position = (row->>'window')::int WHERE row ? 'window';

-- What a backtest actually ran on (first and last bar, bars, warm-up bars) and what its
-- client should know about it (the range only partly covered, gaps, no trades, ...).
ALTER TABLE backtests ADD COLUMN data jsonb,
                      ADD COLUMN warnings jsonb NOT NULL DEFAULT '[]'::jsonb;

-- An optimization's request as the client wrote it: jsonb sorts an object's keys, which lost
-- the order of param_grid's keys, and with it the grid's order that ties are broken by.
ALTER TABLE optimizations ALTER COLUMN request TYPE json USING request::json;

-- The stored bars before `start` an optimization was planned with, for its indicators' warm-up.
ALTER TABLE optimizations ADD COLUMN warmup_bars integer NOT NULL DEFAULT 0;
