"""The pure domain core: the execution model, kernels, indicators, strategy targets, metrics,
walk-forward windows, ranking and research statistics. numpy, numba, polars and scipy only:
no request models, no SQL, no AMQP, no I/O (tests/unit/test_layout.py)."""

from domain.compiled_cache import stamp_compiled_functions_with_the_domain

stamp_compiled_functions_with_the_domain()
