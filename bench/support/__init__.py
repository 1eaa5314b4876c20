"""Helpers several benchmarks share: scratch servers, the services in processes of their own,
seeded candles, timing, CPU readings and the result files."""
