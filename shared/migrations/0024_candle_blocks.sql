-- Candles packed per series and block of time (about 1,440 bars: a day of minutes, 60 days of
-- hours): what backtests read, one row per block instead of one per candle. Triggers rewrite
-- the blocks a statement touches in the same transaction, so a block always holds exactly the
-- stored rows of its time span. `candles` is each row's open_time as PostgreSQL sends a
-- timestamptz (microseconds since 2000-01-01) then its price fields as float8, every value 8
-- bytes big-endian, oldest first (`shared/candle_blocks.py` decodes it).

-- Seconds a block spans: 1,440 bars of the interval (a month counted as 30 days; unknown
-- intervals as one minute). Only the partition of time depends on it, never a result.
CREATE FUNCTION candle_block_seconds(bar_interval text) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN 86400 * CASE
        WHEN bar_interval = 'D' THEN 1440
        WHEN bar_interval = 'W' THEN 10080
        WHEN bar_interval = 'M' THEN 43200
        WHEN bar_interval ~ '^[1-9][0-9]{0,5}$' THEN bar_interval::bigint
        ELSE 1 END;

CREATE FUNCTION candle_block(bar_interval text, open_time timestamptz) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN floor(extract(epoch FROM open_time) / candle_block_seconds(bar_interval))::bigint;

CREATE TABLE kline_blocks (
    category  text   NOT NULL,
    symbol    text   NOT NULL,
    interval  text   NOT NULL,
    block     bigint NOT NULL,  -- candle_block(interval, open_time) of its candles
    candles   bytea  NOT NULL,
    PRIMARY KEY (category, symbol, interval, block)
);
-- Packed doubles do not compress; storing them as they are saves the attempt on every write.
ALTER TABLE kline_blocks ALTER COLUMN candles SET STORAGE EXTERNAL;
CREATE TABLE mark_price_kline_blocks (LIKE kline_blocks INCLUDING ALL);

-- Rewrite the given blocks of `candle_table` into `blocks` from its rows (`fields`: its price
-- fields, in order). Each series is locked first, so that writers of one series rewrite its
-- blocks one after another, each from a snapshot taken after the previous one committed.
CREATE FUNCTION write_candle_blocks(
    candle_table text, blocks text, fields text,
    categories text[], symbols text[], intervals text[], block_numbers bigint[]
) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    touched text := 'SELECT * FROM unnest($1, $2, $3, $4) AS t(category, symbol, interval, block)';
    packed text := 'timestamptz_send(c.open_time) || ' || (
        SELECT string_agg(format('float8send(c.%I)', field), ' || ')
        FROM unnest(string_to_array(fields, ',')) AS field);
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended(
                candle_table || ' ' || category || ' ' || symbol || ' ' || interval, 0))
    FROM (SELECT DISTINCT category, symbol, interval
          FROM unnest(categories, symbols, intervals) AS s(category, symbol, interval)
          ORDER BY 1, 2, 3) AS series;
    EXECUTE format(
        'DELETE FROM %I b USING (%s) AS t
         WHERE b.category = t.category AND b.symbol = t.symbol AND b.interval = t.interval
           AND b.block = t.block', blocks, touched)
    USING categories, symbols, intervals, block_numbers;
    EXECUTE format(
        'INSERT INTO %1$I (category, symbol, interval, block, candles)
         SELECT t.category, t.symbol, t.interval, t.block, packed.candles
         FROM (%2$s) AS t,
              LATERAL (SELECT string_agg(%3$s, ''''::bytea ORDER BY c.open_time) AS candles
                       FROM %4$I c
                       WHERE c.category = t.category AND c.symbol = t.symbol
                         AND c.interval = t.interval
                         AND c.open_time >= to_timestamp(
                                 t.block * candle_block_seconds(t.interval))
                         AND c.open_time < to_timestamp(
                                 (t.block + 1) * candle_block_seconds(t.interval))) AS packed
         WHERE packed.candles IS NOT NULL', blocks, touched, packed, candle_table)
    USING categories, symbols, intervals, block_numbers;
END
$$;

-- After a statement on a candle table (TG_ARGV: its blocks table, its price fields): rewrite
-- every block whose rows it inserted, updated or deleted.
CREATE FUNCTION rewrite_candle_blocks() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed text := CASE TG_OP
        WHEN 'INSERT' THEN 'SELECT category, symbol, interval, open_time FROM new_rows'
        WHEN 'DELETE' THEN 'SELECT category, symbol, interval, open_time FROM old_rows'
        ELSE 'SELECT category, symbol, interval, open_time FROM new_rows
              UNION ALL SELECT category, symbol, interval, open_time FROM old_rows' END;
    categories text[];
    symbols text[];
    intervals text[];
    block_numbers bigint[];
BEGIN
    EXECUTE format(
        'SELECT array_agg(category), array_agg(symbol), array_agg(interval), array_agg(block)
         FROM (SELECT DISTINCT category, symbol, interval,
                      candle_block(interval, open_time) AS block
               FROM (%s) AS changed) AS touched', changed)
    INTO categories, symbols, intervals, block_numbers;
    IF categories IS NOT NULL THEN
        PERFORM write_candle_blocks(
            TG_TABLE_NAME, TG_ARGV[0], TG_ARGV[1], categories, symbols, intervals, block_numbers);
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION empty_candle_blocks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('TRUNCATE %I', TG_ARGV[0]);
    RETURN NULL;
END
$$;

CREATE TRIGGER kline_blocks_after_insert AFTER INSERT ON klines
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION rewrite_candle_blocks('kline_blocks', 'open,high,low,close,volume,turnover');
CREATE TRIGGER kline_blocks_after_update AFTER UPDATE ON klines
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION rewrite_candle_blocks('kline_blocks', 'open,high,low,close,volume,turnover');
CREATE TRIGGER kline_blocks_after_delete AFTER DELETE ON klines
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION rewrite_candle_blocks('kline_blocks', 'open,high,low,close,volume,turnover');
CREATE TRIGGER kline_blocks_after_truncate AFTER TRUNCATE ON klines
    FOR EACH STATEMENT EXECUTE FUNCTION empty_candle_blocks('kline_blocks');

CREATE TRIGGER mark_price_kline_blocks_after_insert AFTER INSERT ON mark_price_klines
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION rewrite_candle_blocks('mark_price_kline_blocks', 'open,high,low,close');
CREATE TRIGGER mark_price_kline_blocks_after_update AFTER UPDATE ON mark_price_klines
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION rewrite_candle_blocks('mark_price_kline_blocks', 'open,high,low,close');
CREATE TRIGGER mark_price_kline_blocks_after_delete AFTER DELETE ON mark_price_klines
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION rewrite_candle_blocks('mark_price_kline_blocks', 'open,high,low,close');
CREATE TRIGGER mark_price_kline_blocks_after_truncate AFTER TRUNCATE ON mark_price_klines
    FOR EACH STATEMENT EXECUTE FUNCTION empty_candle_blocks('mark_price_kline_blocks');

-- The candles stored before this migration.
SELECT write_candle_blocks(
    'klines', 'kline_blocks', 'open,high,low,close,volume,turnover',
    array_agg(category), array_agg(symbol), array_agg(interval), array_agg(block))
FROM (SELECT DISTINCT category, symbol, interval, candle_block(interval, open_time) AS block
      FROM klines) AS stored
HAVING count(*) > 0;
SELECT write_candle_blocks(
    'mark_price_klines', 'mark_price_kline_blocks', 'open,high,low,close',
    array_agg(category), array_agg(symbol), array_agg(interval), array_agg(block))
FROM (SELECT DISTINCT category, symbol, interval, candle_block(interval, open_time) AS block
      FROM mark_price_klines) AS stored
HAVING count(*) > 0;
