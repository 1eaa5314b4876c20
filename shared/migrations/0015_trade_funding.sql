-- Net funding paid over each trade of a perpetual (negative: received); 0 on spot, null before.
ALTER TABLE trades ADD COLUMN funding float8;
