"""The pure domain core: the execution model, kernels, indicators, strategy targets, metrics,
walk-forward windows, ranking and research statistics. numpy, numba, polars and scipy only:
no request models, no SQL, no AMQP, no I/O (tests/unit/test_layout.py)."""
