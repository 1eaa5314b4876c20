-- Idempotency-Key of a job submission: a retry with the same key (within 24 h) answers the job
-- first created. The key row commits with the job, so concurrent retries create one job.
CREATE TABLE idempotency_keys (
    scope        text        NOT NULL,  -- the job type: backfills, backtests, optimizations
    key          text        NOT NULL,
    fingerprint  text        NOT NULL,  -- sha256 of the request, to refuse a key reused for another
    job_id       uuid,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
