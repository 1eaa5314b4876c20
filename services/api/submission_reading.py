"""Reading a job submission from its AMQP body: the envelope checked step by step, so that
each way a message can be wrong has its own reason (for the log and /metrics) and its own
answer, in the error shape of the HTTP API.
"""

import json
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import orjson
from pydantic import ValidationError

from services.api.errors import ApiError, MalformedRequest, Unprocessable, validation_failure
from services.api.request_body import BodyTooLarge
from shared.json_numbers import out_of_range_number
from shared.submissions import (
    MAX_SUBMISSION_BYTES,
    SUBMISSION_TYPES,
    SUBMISSION_VERSION,
    SubmitJob,
)

_TYPES = ", ".join(SUBMISSION_TYPES)


class SubmissionRefused(Exception):
    """The message creates nothing: `reason` names why (a label of /metrics), `error` is the
    answer, `submission_id` the message's id when it had a readable one."""

    def __init__(self, reason: str, error: ApiError, submission_id: UUID | None = None) -> None:
        super().__init__(f"{reason}: {error.message}")
        self.reason = reason
        self.error = error
        self.submission_id = submission_id


@dataclass(frozen=True)
class Submission:
    message: SubmitJob
    request: bytes  # the request as the matching POST's body


def _submission_id(envelope: dict[str, Any]) -> UUID | None:
    try:
        return UUID(str(envelope["id"]))
    except (KeyError, ValueError):
        return None


def read_submission(body: bytes) -> Submission:
    """The submission in `body`, or SubmissionRefused saying what is wrong with it."""
    if len(body) > MAX_SUBMISSION_BYTES:
        too_large = BodyTooLarge(f"message body larger than {MAX_SUBMISSION_BYTES} bytes")
        raise SubmissionRefused("too_large", too_large)
    try:
        envelope = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        try:
            # orjson refuses numbers beyond float64, which the check below names as a POST
            # would; the standard parser reads them.
            envelope = json.loads(body)
        except (ValueError, RecursionError):
            malformed = MalformedRequest(f"message body is not valid JSON: {exc}")
            raise SubmissionRefused("malformed_json", malformed) from None
    if not isinstance(envelope, dict):
        not_object = MalformedRequest("message body must be a JSON object")
        raise SubmissionRefused("malformed_json", not_object)
    submission_id = _submission_id(envelope)
    model = SUBMISSION_TYPES.get(str(envelope.get("type")))
    if model is None:
        unknown = Unprocessable.for_field("type", f"unknown message type; one of {_TYPES}")
        raise SubmissionRefused("unknown_type", unknown, submission_id)
    if envelope.get("version") != SUBMISSION_VERSION or isinstance(envelope["version"], bool):
        unknown = Unprocessable.for_field("version", f"must be {SUBMISSION_VERSION}")
        raise SubmissionRefused("unknown_version", unknown, submission_id)
    if submission_id is None:
        missing = Unprocessable.for_field("id", "required: a UUID naming this submission")
        raise SubmissionRefused("missing_id", missing)
    # Integers beyond int64 parse as floats here: the POST's own check names them.
    out_of_range = out_of_range_number(body)
    if out_of_range is not None:
        raise SubmissionRefused("invalid_request", _out_of_range(*out_of_range), submission_id)
    try:
        message = model.model_validate(envelope)
    except ValidationError as exc:
        raise SubmissionRefused(
            "invalid_envelope", validation_failure(exc), submission_id
        ) from None
    return Submission(message, orjson.dumps(envelope.get("request")))


def _out_of_range(field: str, message: str) -> Unprocessable:
    """A number out of range, named as the POST of the request would name it."""
    return Unprocessable.for_field(field.removeprefix("request."), message)
