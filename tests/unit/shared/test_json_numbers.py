"""Numbers float64 / int64 cannot hold, found by path; stored jsonb numbers decoded safely."""

import math

import pytest

from shared.json_numbers import INT64_MAX, INT64_MIN, loads_stored, out_of_range_number


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"a": 1e400}', "a"),
        (b'{"a": {"b": [1, 2, -1e999]}}', "a.b.2"),
        (b'{"a": ' + b"9" * 5000 + b"}", "a"),
        (b'{"a": ' + str(INT64_MAX + 1).encode() + b"}", "a"),
        (b'{"a": ' + str(INT64_MIN - 1).encode() + b"}", "a"),
        (b'{"a": NaN}', "a"),
        (b'{"a": [Infinity]}', "a.0"),
        (b"1e400", "body"),
    ],
)
def test_the_first_number_out_of_range_is_named(body: bytes, field: str) -> None:
    found = out_of_range_number(body)
    assert found is not None and found[0] == field


@pytest.mark.parametrize(
    "body",
    [
        b'{"a": 1e20, "b": 1.7976931348623157e308, "c": 5e-324, "d": 1e-400}',
        b'{"a": ' + str(INT64_MAX).encode() + b', "b": ' + str(INT64_MIN).encode() + b"}",
        b'{"a": "1e400", "b": null, "c": true}',
        b"{not json",
        b"[" * 100_000,
    ],
)
def test_numbers_within_range_and_bodies_that_are_not_json_pass(body: bytes) -> None:
    assert out_of_range_number(body) is None


def test_stored_numbers_beyond_int64_come_back_as_floats() -> None:
    stored = loads_stored('{"a": 100000000000000000000, "b": 5, "c": 9223372036854775807}')
    assert stored == {"a": 1e20, "b": 5, "c": INT64_MAX}
    assert isinstance(stored["a"], float) and isinstance(stored["b"], int)
    assert math.isinf(loads_stored("1" + "0" * 400))
