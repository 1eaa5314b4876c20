"""Performance metrics: of one backtest, of many parameter sets at once, and their names."""
