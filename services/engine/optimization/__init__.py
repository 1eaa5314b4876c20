"""Optimizations in the engine: planning and chunk consumers (event loop),
evaluation (in the pool), outcomes and their SQL."""
