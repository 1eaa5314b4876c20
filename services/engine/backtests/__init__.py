"""Backtest jobs in the engine: the consumer (event loop) and the simulation (in the pool)."""
