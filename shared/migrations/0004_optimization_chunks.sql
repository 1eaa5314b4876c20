-- The data an optimization was planned on: its chunks load exactly these bars, however many
-- candles arrive in the range later.
ALTER TABLE optimizations ADD COLUMN bars integer, ADD COLUMN data_end timestamptz;

-- An optimization's work, split so that any engine worker can take any piece. A grid chunk
-- (stage 'grid', or 'train' inside a walk-forward window) runs parameter sets
-- [set_from, set_to) of the request's combinations(); a 'test' chunk runs its window's best
-- set over the test bars and waits until the window's training is done.
CREATE TABLE optimization_chunks (
    optimization_id uuid    NOT NULL REFERENCES optimizations (id) ON DELETE CASCADE,
    chunk           integer NOT NULL,
    stage           text    NOT NULL CHECK (stage IN ('grid', 'train', 'test')),
    window_index    integer,  -- walk-forward window; null for a grid
    set_from        integer NOT NULL,
    set_to          integer NOT NULL,
    status          text    NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('waiting', 'pending', 'done')),
    params          jsonb,    -- a test chunk's chosen set, with its train metrics
    result          jsonb,    -- train: the chunk's best set; test: the window's row and trades
    times           bytea,    -- test: little-endian int64 open times of the test bars
    equity          bytea,    -- test: little-endian float64 equity at each test bar's close
    PRIMARY KEY (optimization_id, chunk)
);
CREATE INDEX optimization_chunks_window ON optimization_chunks (optimization_id, window_index);
