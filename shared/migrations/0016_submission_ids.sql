-- The AMQP submission (its message id) that created a job, so the job's events name it for the
-- producer that sent it; NULL for a job created over HTTP.
ALTER TABLE backtests ADD COLUMN submission_id uuid;
ALTER TABLE optimizations ADD COLUMN submission_id uuid;
ALTER TABLE backfill_run ADD COLUMN submission_id uuid;
