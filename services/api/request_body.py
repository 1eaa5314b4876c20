"""Reading a request body with bounded cost: at most MAX_BODY_BYTES, after decompression.

The server is built with aiohttp's own decompression off (see `create_app`), so a body nobody
reads costs nothing, and one that is read is inflated here, stopping at the limit.
"""

import zlib

from aiohttp import web

from services.api.errors import ApiError, MalformedRequest

MAX_BODY_BYTES = 1024**2
# zlib's wbits: gzip framing, or zlib framing for "deflate".
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
_TOO_LARGE = f"request body larger than {MAX_BODY_BYTES} bytes (after decompression)"


class BodyTooLarge(ApiError):
    status, code = 413, "too_large"


class UnsupportedEncoding(ApiError):
    status, code = 415, "unsupported_encoding"


def declared_too_large(request: web.Request) -> bool:
    """Whether the Content-Length alone already exceeds the limit."""
    return request.content_length is not None and request.content_length > MAX_BODY_BYTES


def _inflate(data: bytes, encoding: str) -> bytes:
    """Decompress, member after member for gzip, producing at most the limit plus one byte."""
    out = bytearray()
    while data:
        inflater = zlib.decompressobj(_WBITS[encoding])
        try:
            out += inflater.decompress(data, MAX_BODY_BYTES + 1 - len(out))
        except zlib.error as exc:
            raise MalformedRequest(f"request body is not valid {encoding} data: {exc}") from None
        if len(out) > MAX_BODY_BYTES:
            raise BodyTooLarge(_TOO_LARGE)
        if not inflater.eof:
            raise MalformedRequest(f"request body is truncated {encoding} data")
        data = inflater.unused_data if encoding != "deflate" else b""
    return bytes(out)


async def read_body_bytes(request: web.Request) -> bytes:
    """The body as the client meant it: decoded from its Content-Encoding, within the limit."""
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in _WBITS and encoding != "identity":
        raise UnsupportedEncoding(
            f"Content-Encoding {encoding!r} is not accepted; use gzip, deflate or none"
        )
    if declared_too_large(request):
        raise BodyTooLarge(_TOO_LARGE)
    try:
        raw = await request.read()  # the app's client_max_size bounds the raw bytes too
    except web.HTTPRequestEntityTooLarge:
        raise BodyTooLarge(_TOO_LARGE) from None
    return raw if encoding == "identity" else _inflate(raw, encoding)
