"""The engine: a worker that runs backtests and optimizations, and its pure simulation core."""
