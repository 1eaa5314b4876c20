-- What a trader reads of each trade beyond its fills: its return on the account's equity
-- (the Monte Carlo resamples it), its excursions from the entry price, how many bar closes it
-- lived through and how it entered. Null for trades stored before.
ALTER TABLE trades
    ADD COLUMN equity_return float8,
    ADD COLUMN mae float8,
    ADD COLUMN mfe float8,
    ADD COLUMN bars_held integer,
    ADD COLUMN entry_order text;
