"""The REST API as the command line reaches it: JSON requests, and each way a request can go
wrong as an exception the command turns into its message and exit status."""

from typing import Any

import httpx

DEFAULT_API = "http://127.0.0.1:8000/api/v1"


class Refused(Exception):
    """The API answered an error (4xx or 5xx)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: list[Any],
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details
        self.retry_after = retry_after  # seconds, when the answer said (a 503)

    def lines(self) -> list[str]:
        """What the user reads: the status, code and message, then each field the API names
        with its message (those the message does not already say)."""
        fields = [
            f"{d.get('field')}: {d.get('message')}"
            for d in self.details
            if isinstance(d, dict) and d.get("field")
        ]
        head = f"refused: HTTP {self.status} {self.code}: {self.message}"
        return [head, *(f"  {field}" for field in fields if field != self.message)]


class Unreachable(Exception):
    """No answer from the API at all."""


class ApiClient:
    def __init__(self, base_url: str, token: str | None, timeout: float = 60.0) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url + "/", headers=headers, timeout=timeout)

    def get(self, path: str, **query: Any) -> Any:
        return self._json(self._send("GET", path, params=_present(query)))

    def post(
        self,
        path: str,
        body: dict[str, Any],
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> Any:
        """`timeout`, if given, replaces the client's for this request."""
        extra = {} if timeout is None else {"timeout": timeout}
        return self._json(self._send("POST", path, json=body, headers=headers, **extra))

    def delete(self, path: str) -> Any:
        """The answer's body, or None for a 204."""
        resp = self._send("DELETE", path)
        return None if resp.status_code == 204 else self._json(resp)

    def get_bytes(self, path: str, **query: Any) -> bytes:
        return self._send("GET", path, params=_present(query)).content

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            resp = self._http.request(method, path.lstrip("/"), **kwargs)
        except httpx.HTTPError as exc:
            raise Unreachable(f"cannot reach the API at {self.base_url}: {exc}") from None
        if resp.status_code >= 400:
            raise _refusal(resp)
        return resp

    @staticmethod
    def _json(resp: httpx.Response) -> Any:
        return resp.json()


def _present(query: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in query.items() if value is not None}


def _retry_after(resp: httpx.Response) -> float | None:
    try:
        return max(0.0, float(resp.headers["Retry-After"]))
    except (KeyError, ValueError):
        return None  # absent, or an HTTP date: the caller's own pause


def _refusal(resp: httpx.Response) -> Refused:
    after = _retry_after(resp)
    try:
        error = resp.json()["error"]
        return Refused(resp.status_code, error["code"], error["message"], error["details"], after)
    except (ValueError, KeyError, TypeError):
        text = resp.text[:500] or resp.reason_phrase
        return Refused(resp.status_code, "http_error", text, [], after)
