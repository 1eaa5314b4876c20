-- Why each trade ended, and how many ended each way (rows from before stay null).
ALTER TABLE trades ADD COLUMN exit_reason text;
ALTER TABLE backtests ADD COLUMN exit_counts jsonb;
