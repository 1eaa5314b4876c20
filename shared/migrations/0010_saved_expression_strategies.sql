-- A saved strategy is a preset (a strategy's name and its params) or an expression
-- strategy (its definition, in the order the client wrote it: json, not jsonb).
ALTER TABLE strategies ALTER COLUMN strategy DROP NOT NULL;
ALTER TABLE strategies ADD COLUMN definition json;
ALTER TABLE strategies ADD CONSTRAINT strategies_one_kind
    CHECK ((strategy IS NULL) <> (definition IS NULL));
