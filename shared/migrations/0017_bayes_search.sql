-- Bayesian search (docs/optimization.md, "Bayesian search"): an optimization of kind 'bayes'
-- asks Optuna for batches of trials; each batch is evaluated as chunks by any engine worker.
-- The search's state is what is stored here: every trial asked (its parameters, what Optuna
-- keeps with it, its outcome) and the sampler as it was after the last ask, so the study is
-- rebuilt from these rows for each batch and a killed worker loses nothing.
ALTER TABLE optimizations DROP CONSTRAINT optimizations_kind_check;
ALTER TABLE optimizations ADD CONSTRAINT optimizations_kind_check
    CHECK (kind IN ('grid', 'walk_forward', 'bayes'));
-- A bayes search's summary (asks, rule breaks, parameter importance), and why it ended early.
ALTER TABLE optimizations ADD COLUMN search jsonb;
ALTER TABLE optimizations ADD COLUMN IF NOT EXISTS warnings text[] NOT NULL DEFAULT '{}';

-- One search per optimization (`search` 0), or one per walk-forward window (its index).
CREATE TABLE optimization_searches (
    optimization_id uuid    NOT NULL REFERENCES optimizations (id) ON DELETE CASCADE,
    search          integer NOT NULL,
    sampler         bytea   NOT NULL,  -- pickled by Optuna's own means, after the last ask
    asks            integer NOT NULL DEFAULT 0,
    evaluated       integer NOT NULL DEFAULT 0,  -- trials evaluated (rule breaks not counted)
    batch           integer NOT NULL DEFAULT 0,  -- the batch being evaluated
    ended           text,  -- why the search ended early, if it did
    done            boolean NOT NULL DEFAULT false,
    PRIMARY KEY (optimization_id, search)
);

-- Every trial asked: `position` numbers the evaluated ones (null for a rule break, told as
-- failed at once); `chunk` is the chunk that evaluates it.
CREATE TABLE optimization_trials (
    optimization_id uuid    NOT NULL REFERENCES optimizations (id) ON DELETE CASCADE,
    search          integer NOT NULL,
    number          integer NOT NULL,  -- Optuna's trial number
    batch           integer NOT NULL,
    position        integer,
    chunk           integer,
    params          jsonb   NOT NULL,
    system_attrs    jsonb   NOT NULL DEFAULT '{}',
    state           text    NOT NULL CHECK (state IN ('running', 'complete', 'fail')),
    value           double precision,
    PRIMARY KEY (optimization_id, search, number)
);
CREATE INDEX optimization_trials_chunk ON optimization_trials (optimization_id, chunk);
