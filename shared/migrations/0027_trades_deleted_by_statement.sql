-- A backtest's trades are written by one COPY of thousands of rows, and the foreign key to
-- `backtests` checked each of them on its own (a probe and a key-share lock per trade: longer
-- than the COPY itself). Their one writer (shared/repos/backtests.py, store_result) inserts a
-- backtest's trades only while it holds that backtest's row FOR UPDATE, so every trade has its
-- backtest without the check; deleting backtests deletes their trades once per statement here,
-- as ON DELETE CASCADE did row by row.
ALTER TABLE trades DROP CONSTRAINT trades_backtest_id_fkey;

CREATE FUNCTION delete_trades_of_deleted_backtests() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM trades t USING deleted_backtests d WHERE t.backtest_id = d.id;
    RETURN NULL;
END $$;

CREATE TRIGGER backtests_delete_trades AFTER DELETE ON backtests
    REFERENCING OLD TABLE AS deleted_backtests
    FOR EACH STATEMENT EXECUTE FUNCTION delete_trades_of_deleted_backtests();

CREATE FUNCTION truncate_trades() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE trades;
    RETURN NULL;
END $$;

CREATE TRIGGER backtests_truncate_trades AFTER TRUNCATE ON backtests
    FOR EACH STATEMENT EXECUTE FUNCTION truncate_trades();
