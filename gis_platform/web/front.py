"""Answers given in front of the middleware stack, with the headers the stack would have added.

A lane placed in front (see :class:`gis_platform.tiles.http.TileLane`) answers the plainest requests
before the request-id, security-header, gzip, CORS and limits middleware run: on a 2-core machine those
layers cost 80-100 µs per request, a fifth of everything our server adds to an uncached tile. Only
requests that none of those layers would change are taken (:func:`plain_request`): ``GET`` without a
body, without an ``Origin`` header (CORS answers depend on it) and within the header limit; their
answers get what the stack adds to a response that needs no compression (:func:`front_send`): an
``X-Request-ID``, the security headers, and ``Vary: Origin`` when CORS is on (Starlette's CORS
middleware says so on every answer to a request without ``Origin``). A test compares these answers with
the ones the routes give through the whole stack.
"""

from __future__ import annotations

from starlette.types import Message, Scope, Send

from gis_platform.web.limits import MAX_HEADER_BYTES
from gis_platform.web.middleware import add_request_id, add_security_headers, add_vary, assign_request_id

_NOT_PLAIN = frozenset({b"origin", b"content-length", b"transfer-encoding"})


def plain_request(scope: Scope) -> bool:
    """A ``GET`` the middleware stack would pass through unchanged (see the module docstring)."""
    if scope["method"] != "GET":
        return False
    size = 0
    for name, value in scope["headers"]:
        if name in _NOT_PLAIN:
            return False
        size += len(name) + len(value) + 4
    return size <= MAX_HEADER_BYTES


def front_send(scope: Scope, send: Send, *, cors: bool) -> Send:
    """``send`` adding what the middleware stack adds to an answer (the request id goes into the scope)."""
    request_id = assign_request_id(scope)

    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = message.setdefault("headers", [])
            if cors:
                add_vary(headers, b"Origin")
            add_security_headers(headers)
            add_request_id(headers, request_id)
        await send(message)

    return send_with_headers


__all__ = ["front_send", "plain_request"]
