-- Research-grade results (docs/simulation.md, "How likely is it luck").
-- A grid or train chunk's per-set statistics: little-endian float64, a header (first set,
-- blocks, bars per block) then per set its Sharpe ratio, skewness, kurtosis, count and per
-- block the sum and the sum of squares of its per-bar returns: blocks x sets, never bars.
ALTER TABLE optimization_chunks ADD COLUMN statistics bytea;
ALTER TABLE optimizations ADD COLUMN robustness jsonb, ADD COLUMN provenance jsonb;
-- A backtest's Monte Carlo of its trades, what it ran on, and for a rerun whether it
-- reproduced the backtest it reran (`digests`: sha256 of its metrics, trades and equity).
ALTER TABLE backtests
    ADD COLUMN monte_carlo jsonb,
    ADD COLUMN provenance jsonb,
    ADD COLUMN digests jsonb,
    ADD COLUMN rerun_of uuid,
    ADD COLUMN reproduced boolean,
    ADD COLUMN differences text[];
