"""The compiled log of the normal CDF has the bits of Optuna's, over every branch."""

import numpy as np
from optuna.samplers._tpe import _truncnorm

from services.engine.optimization.tpe_log_ndtr import log_ndtr

_single = _truncnorm._log_ndtr_single.__wrapped__  # Optuna's, one number at a time


def test_the_compiled_log_ndtr_has_optunas_bits_on_every_branch() -> None:
    rng = np.random.default_rng(5)
    edges = [6.0, np.nextafter(6.0, 7), -20.0, np.nextafter(-20.0, 0), 0.0, -0.0, 1e-300]
    edges += [-1.0, 1.0, -(2**0.5) / 2 * 2**0.5, 5e-324, 38.0, -19.5]
    values = np.concatenate([rng.normal(0, scale, 20_000) for scale in (0.3, 2, 5, 9)])
    values = np.concatenate([values[values > -20], edges])
    expected = np.array([_single(float(v)) for v in values])
    assert log_ndtr(values).view(np.int64).tolist() == expected.view(np.int64).tolist()
    matrix = values[:1000].reshape(40, 25)
    assert log_ndtr(matrix).shape == (40, 25)


def test_values_past_the_series_bound_and_nan_go_to_optunas_own() -> None:
    values = np.array([-20.5, -35.25, 1.0, np.nan, -88.0])
    with np.errstate(invalid="ignore"):
        got = log_ndtr(values)
    expected = np.array([_single(float(v)) for v in values])
    assert np.array_equal(got, expected, equal_nan=True)
    assert (
        got.view(np.int64)[[0, 1, 2, 4]].tolist() == expected.view(np.int64)[[0, 1, 2, 4]].tolist()
    )
