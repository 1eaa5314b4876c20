-- Portfolios: each trade's symbol (null for a one-symbol backtest's trades) and the
-- per-symbol results of a portfolio backtest.
ALTER TABLE trades ADD COLUMN symbol text;
ALTER TABLE backtests ADD COLUMN per_symbol jsonb;
