"""Answers given in front of the middleware stack, with the headers the stack would have added.

A lane placed in front (see :class:`gis_platform.tiles.http.TileLane`) answers the plainest requests
before the request-id, security-header, gzip, CORS and limits middleware run: on a 2-core machine those
layers cost 80-100 µs per request, a fifth of everything our server adds to an uncached tile. Only
requests that none of those layers would change are taken (:attr:`Asked.plain`): ``GET`` without a
body, without an ``Origin`` header (CORS answers depend on it) and within the header limit. Their
answers get what the stack adds to a response that needs no compression: an ``X-Request-ID``, the
security headers, and ``Vary: Origin`` when CORS is on (Starlette's CORS middleware says so on every
answer to a request without ``Origin``) — built by the middleware's own functions, once per lane
(:func:`answer_headers`) or per answer (:func:`front_send`). A test compares these answers with the
ones the routes give through the whole stack.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.types import Message, Scope, Send

from gis_platform.web.limits import MAX_HEADER_BYTES
from gis_platform.web.middleware import add_request_id, add_security_headers, add_vary

Headers = list[tuple[bytes, bytes]]
_NOT_PLAIN = frozenset({b"origin", b"content-length", b"transfer-encoding"})


@dataclass(slots=True)
class Asked:
    """The request headers a lane reads, from one pass over them."""

    plain: bool  # no body, no Origin, headers within the limit (see the module docstring)
    authorization: bytes | None
    accept_encoding: bytes
    if_none_match: bytes | None
    request_id: bytes


def read_request(scope: Scope) -> Asked:
    """What a ``GET`` asks for (see :class:`Asked`)."""
    plain = scope["method"] == "GET"
    authorization = if_none_match = None
    accept_encoding = request_id = b""
    size = 0
    for name, value in scope["headers"]:
        size += len(name) + len(value) + 4
        if name == b"authorization":
            authorization = value
        elif name == b"accept-encoding":
            accept_encoding = value
        elif name == b"if-none-match":
            if_none_match = value
        elif name == b"x-request-id":
            request_id = value
        elif name in _NOT_PLAIN:
            plain = False
    return Asked(
        plain and size <= MAX_HEADER_BYTES, authorization, accept_encoding, if_none_match, request_id
    )


def add_stack_headers(headers: Headers, *, cors: bool) -> None:
    """What the CORS and security-header middleware add to an answer (to a request without ``Origin``)."""
    if cors:
        add_vary(headers, b"Origin")
    add_security_headers(headers)


def answer_headers(vary: bytes, *, cors: bool) -> Headers:
    """``Vary`` and the security headers the stack gives an answer that varies on ``vary`` (not HTML)."""
    headers: Headers = [(b"vary", vary)]
    add_stack_headers(headers, cors=cors)
    return headers


def front_send(send: Send, request_id: str, *, cors: bool) -> Send:
    """``send`` adding what the middleware stack adds to any answer (problems, say)."""

    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = message.setdefault("headers", [])
            add_stack_headers(headers, cors=cors)
            add_request_id(headers, request_id)
        await send(message)

    return send_with_headers


__all__ = ["Asked", "add_stack_headers", "answer_headers", "front_send", "read_request"]
