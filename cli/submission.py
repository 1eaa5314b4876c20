"""Submitting a job so that it exists once, whatever the network and the database do.

Every submission carries an `Idempotency-Key` (the user's, or a new random one), so sending it
again can never create a second job: the API answers the job the key created, or creates it
if the first attempt did not. An answer 503 (the API's database stalled or away, or the job's
COMMIT without an answer) or no answer at all is retried with the same key, after the API's
`Retry-After` (else a growing pause), until `retry_for` seconds have passed.
"""

import time
import uuid
from collections.abc import Callable
from typing import Any

from cli.api_client import ApiClient, Refused, Unreachable

HEADER = "Idempotency-Key"
# One attempt waits this long for an answer; the API answers within 5 s, even a 503.
ATTEMPT_TIMEOUT_SECONDS = 15.0
_FIRST_PAUSE, _MAX_PAUSE = 1.0, 5.0


class GaveUp(Exception):
    """Still no job after retrying for as long as allowed; `last` is the final failure."""

    def __init__(self, last: Refused | Unreachable, key: str) -> None:
        super().__init__(str(last))
        self.last, self.key = last, key


def new_key() -> str:
    return uuid.uuid4().hex


def submit_job(
    api: ApiClient,
    path: str,
    body: dict[str, Any],
    key: str,
    *,
    retry_for: float,
    tell: Callable[[str], None],
    sleep: Callable[[float], None] = time.sleep,
) -> Any:
    """POST the job with `key` until the API accepts it (its answer) or refuses it otherwise
    than with a 503 (raised); retries are announced through `tell`."""
    deadline = time.monotonic() + retry_for
    pause = _FIRST_PAUSE
    while True:
        try:
            return api.post(path, body, {HEADER: key}, timeout=ATTEMPT_TIMEOUT_SECONDS)
        except Refused as exc:
            if exc.status != 503:
                raise
            failure: Refused | Unreachable = exc
            wait = min(exc.retry_after or pause, _MAX_PAUSE)
            reason = f"HTTP 503: {exc.message}"
        except Unreachable as exc:
            failure, wait, reason = exc, pause, str(exc)
        if time.monotonic() + wait > deadline:
            raise GaveUp(failure, key) from None
        tell(f"{reason}; retrying in {wait:g} s with the same {HEADER} ({key})")
        sleep(wait)
        pause = min(pause * 2, _MAX_PAUSE)
