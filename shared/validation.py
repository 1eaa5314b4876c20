"""Validation errors that point at the field a client wrote, wherever the check runs."""

from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError


def field_error(title: str, field: str, message: str, given: Any = None) -> ValidationError:
    """A ValidationError at the dotted `field` path; raised inside a model validator, pydantic
    reports it under that path (prefixed by where the model sits)."""
    loc = tuple(int(part) if part.isdigit() else part for part in field.split("."))
    details = InitErrorDetails(
        type=PydanticCustomError("invalid_field", "{message}", {"message": message}),
        loc=loc,
        input=given,
    )
    return ValidationError.from_exception_data(title, [details])


# What pydantic puts before the text of a ValueError or an assert raised in a validator, and
# before the JSON parser's own words.
_PREFIXES = {
    "value_error": "Value error, ",
    "assertion_error": "Assertion failed, ",
    "json_invalid": "Invalid JSON: ",
}


def error_message(error: ErrorDetails) -> str:
    """An error's message as a client should read it: the validator's own words."""
    return error["msg"].removeprefix(_PREFIXES.get(error["type"], ""))
