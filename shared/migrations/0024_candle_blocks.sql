-- Candles packed per series and block of time (about 1,440 bars: a day of minutes, 60 days of
-- hours): what backtests read, one row per block instead of one per candle. Triggers keep the
-- blocks a statement touches in its transaction (candles newer than every one of their block
-- are appended to it; any other change rewrites the block from the rows), so a block always
-- holds exactly the stored rows of its time span. `candles` is each row's open_time as
-- PostgreSQL sends a timestamptz (microseconds since 2000-01-01) then its price fields as
-- float8, every value 8 bytes big-endian, oldest first (`shared/candle_blocks.py` decodes it).

-- Seconds a block spans: 1,440 bars of the interval (a month counted as 30 days; other
-- intervals as one minute). Only the partition of time depends on it, never a result.
CREATE FUNCTION candle_block_seconds(bar_interval text) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN 86400 * CASE
        WHEN bar_interval IN ('1', '3', '5', '15', '30', '60', '120', '240', '360', '720')
            THEN bar_interval::bigint
        WHEN bar_interval = 'D' THEN 1440
        WHEN bar_interval = 'W' THEN 10080
        WHEN bar_interval = 'M' THEN 43200
        ELSE 1 END;

-- The block of a candle. A float8 epoch is cheap, and the rewrite below selects a block's rows
-- by this same function, so its rounding can never split them. STABLE as date_part is: a
-- function no more volatile than its body is inlined into the query, not called per row.
CREATE FUNCTION candle_block(bar_interval text, open_time timestamptz) RETURNS bigint
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN floor(date_part('epoch', open_time) / candle_block_seconds(bar_interval))::bigint;

-- The bytes of a row `c` of a candle table with these price fields (comma-separated, in order).
CREATE FUNCTION packed_candle(fields text) RETURNS text
    LANGUAGE sql IMMUTABLE
    RETURN 'timestamptz_send(c.open_time) || ' || (
        SELECT string_agg(format('float8send(c.%I)', field), ' || ')
        FROM unnest(string_to_array(fields, ',')) AS field);

CREATE TABLE kline_blocks (
    category   text        NOT NULL,
    symbol     text        NOT NULL,
    interval   text        NOT NULL,
    block      bigint      NOT NULL,  -- candle_block(interval, open_time) of its candles
    last_time  timestamptz NOT NULL,  -- the open time of its newest candle
    candles    bytea       NOT NULL,
    PRIMARY KEY (category, symbol, interval, block)
);
-- Packed doubles do not compress; storing them as they are saves the attempt on every write.
ALTER TABLE kline_blocks ALTER COLUMN candles SET STORAGE EXTERNAL;
CREATE TABLE mark_price_kline_blocks (LIKE kline_blocks INCLUDING ALL);

-- Writers of one series keep its blocks one after another: each takes this lock (until its
-- transaction ends) before it reads or writes any of the blocks, so a rewrite reads the rows
-- from a snapshot taken after the previous writer committed, and appends and rewrites never
-- wait on each other's row locks in opposite orders.
CREATE FUNCTION lock_candle_series(candle_table text, category text, symbol text, bar_interval text)
    RETURNS void LANGUAGE sql
    RETURN pg_advisory_xact_lock(hashtextextended(
        candle_table || ' ' || category || ' ' || symbol || ' ' || bar_interval, 0));

-- Rewrite the given blocks of `candle_table` into `blocks` from its rows (`fields`: its price
-- fields), its series locked first.
CREATE FUNCTION write_candle_blocks(
    candle_table text, blocks text, fields text,
    categories text[], symbols text[], intervals text[], block_numbers bigint[]
) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    touched text := 'SELECT * FROM unnest($1, $2, $3, $4) AS t(category, symbol, interval, block)';
BEGIN
    PERFORM lock_candle_series(candle_table, category, symbol, interval)
    FROM (SELECT DISTINCT category, symbol, interval
          FROM unnest(categories, symbols, intervals) AS s(category, symbol, interval)
          ORDER BY 1, 2, 3) AS series;
    EXECUTE format(
        'DELETE FROM %I b USING (%s) AS t
         WHERE b.category = t.category AND b.symbol = t.symbol AND b.interval = t.interval
           AND b.block = t.block', blocks, touched)
    USING categories, symbols, intervals, block_numbers;
    EXECUTE format(
        'INSERT INTO %1$I (category, symbol, interval, block, last_time, candles)
         SELECT t.category, t.symbol, t.interval, t.block, packed.last_time, packed.candles
         FROM (%2$s) AS t,
              LATERAL (SELECT max(c.open_time) AS last_time,
                              string_agg(%3$s, ''''::bytea ORDER BY c.open_time) AS candles
                       FROM %4$I c
                       WHERE c.category = t.category AND c.symbol = t.symbol
                         AND c.interval = t.interval
                         AND c.open_time >= to_timestamp(
                                 t.block * candle_block_seconds(t.interval) - 1)
                         AND c.open_time < to_timestamp(
                                 (t.block + 1) * candle_block_seconds(t.interval) + 1)
                         AND candle_block(c.interval, c.open_time) = t.block) AS packed
         WHERE packed.candles IS NOT NULL', blocks, touched, packed_candle(fields), candle_table)
    USING categories, symbols, intervals, block_numbers;
END
$$;

-- After a statement on a candle table (TG_ARGV: its blocks table, its price fields), its
-- series locked: inserted candles newer than every one of their block are appended to it (a
-- block not there yet is created); every other block the statement touched is rewritten.
CREATE FUNCTION keep_candle_blocks() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed text := CASE TG_OP
        WHEN 'INSERT' THEN 'SELECT category, symbol, interval, open_time FROM new_rows'
        WHEN 'DELETE' THEN 'SELECT category, symbol, interval, open_time FROM old_rows'
        ELSE 'SELECT category, symbol, interval, open_time FROM new_rows
              UNION ALL SELECT category, symbol, interval, open_time FROM old_rows' END;
    the_block text := 'category = $1 AND symbol = $2 AND interval = $3 AND block = $4';
    categories text[] := '{}';
    symbols text[] := '{}';
    intervals text[] := '{}';
    block_numbers bigint[] := '{}';
    added record;
    kept integer;
BEGIN
    EXECUTE format(
        'SELECT lock_candle_series(%L, category, symbol, interval)
         FROM (SELECT DISTINCT category, symbol, interval FROM (%s) AS changed
               ORDER BY 1, 2, 3) AS series', TG_TABLE_NAME, changed);
    IF TG_OP = 'INSERT' THEN
        FOR added IN EXECUTE format(
            'SELECT category, symbol, interval, candle_block(interval, open_time) AS block,
                    min(open_time) AS first_time, max(open_time) AS last_time,
                    string_agg(%s, ''''::bytea ORDER BY open_time) AS candles
             FROM new_rows c GROUP BY 1, 2, 3, 4', packed_candle(TG_ARGV[1]))
        LOOP
            EXECUTE format(
                'UPDATE %I SET candles = candles || $5, last_time = $6
                 WHERE %s AND last_time < $7', TG_ARGV[0], the_block)
            USING added.category, added.symbol, added.interval, added.block, added.candles,
                  added.last_time, added.first_time;
            GET DIAGNOSTICS kept = ROW_COUNT;
            IF kept = 0 THEN
                EXECUTE format(
                    'INSERT INTO %I (category, symbol, interval, block, last_time, candles)
                     VALUES ($1, $2, $3, $4, $6, $5) ON CONFLICT DO NOTHING', TG_ARGV[0])
                USING added.category, added.symbol, added.interval, added.block, added.candles,
                      added.last_time;
                GET DIAGNOSTICS kept = ROW_COUNT;
            END IF;
            IF kept = 0 THEN
                categories := categories || added.category;
                symbols := symbols || added.symbol;
                intervals := intervals || added.interval;
                block_numbers := block_numbers || added.block;
            END IF;
        END LOOP;
    ELSE
        EXECUTE format(
            'SELECT array_agg(category), array_agg(symbol), array_agg(interval), array_agg(block)
             FROM (SELECT DISTINCT category, symbol, interval,
                          candle_block(interval, open_time) AS block
                   FROM (%s) AS changed) AS touched', changed)
        INTO categories, symbols, intervals, block_numbers;
    END IF;
    IF cardinality(categories) > 0 THEN
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

-- Each candle table's triggers (named after its blocks table), and its blocks of the candles
-- stored before this migration.
DO $$
DECLARE
    candle_table text;
    blocks text;
    fields text;
BEGIN
    FOR candle_table, blocks, fields IN VALUES
        ('klines', 'kline_blocks', 'open,high,low,close,volume,turnover'),
        ('mark_price_klines', 'mark_price_kline_blocks', 'open,high,low,close')
    LOOP
        EXECUTE format(
            'CREATE TRIGGER %1$I AFTER INSERT ON %2$I REFERENCING NEW TABLE AS new_rows
             FOR EACH STATEMENT EXECUTE FUNCTION keep_candle_blocks(%3$L, %4$L)',
            blocks || '_after_insert', candle_table, blocks, fields);
        EXECUTE format(
            'CREATE TRIGGER %1$I AFTER UPDATE ON %2$I
             REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
             FOR EACH STATEMENT EXECUTE FUNCTION keep_candle_blocks(%3$L, %4$L)',
            blocks || '_after_update', candle_table, blocks, fields);
        EXECUTE format(
            'CREATE TRIGGER %1$I AFTER DELETE ON %2$I REFERENCING OLD TABLE AS old_rows
             FOR EACH STATEMENT EXECUTE FUNCTION keep_candle_blocks(%3$L, %4$L)',
            blocks || '_after_delete', candle_table, blocks, fields);
        EXECUTE format(
            'CREATE TRIGGER %1$I AFTER TRUNCATE ON %2$I
             FOR EACH STATEMENT EXECUTE FUNCTION empty_candle_blocks(%3$L)',
            blocks || '_after_truncate', candle_table, blocks);
        EXECUTE format(
            'SELECT write_candle_blocks(%1$L, %2$L, %3$L, array_agg(category), array_agg(symbol),
                                        array_agg(interval), array_agg(block))
             FROM (SELECT DISTINCT category, symbol, interval,
                          candle_block(interval, open_time) AS block FROM %1$I) AS stored
             HAVING count(*) > 0', candle_table, blocks, fields);
    END LOOP;
END
$$;
