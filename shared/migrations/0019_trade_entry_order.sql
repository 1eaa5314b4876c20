-- How each trade entered: `market` or `limit` (entry_order); null for trades from before.
ALTER TABLE trades ADD COLUMN entry_order text;
