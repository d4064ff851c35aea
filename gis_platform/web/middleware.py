"""Pure ASGI middleware (no BaseHTTPMiddleware on the hot paths)."""

from __future__ import annotations

import itertools
import secrets

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class RequestIdMiddleware:
    """Give every request an id (``X-Request-ID`` in and out) for logs and problem bodies."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Tag the request and its response."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = assign_request_id(scope)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                add_request_id(message.setdefault("headers", []), request_id)
            await send(message)

        await self.app(scope, receive, send_with_id)


#: New request ids: a random prefix per process, then a counter (unique, no system call per request).
_ID_PREFIX = secrets.token_hex(4)
_ID_COUNTER = itertools.count(1)


def assign_request_id(scope: Scope, incoming: bytes | None = None) -> str:
    """The request's id, kept in its state.

    Its own ``X-Request-ID`` (``incoming``, else read from the scope) when alphanumeric, else a new one.
    """
    if incoming is None:
        incoming = next((bytes(v) for k, v in scope.get("headers") or () if k == b"x-request-id"), b"")
    if incoming.isalnum():
        request_id = incoming.decode("latin-1")[:64]
    else:
        request_id = f"{_ID_PREFIX}{next(_ID_COUNTER):08x}"
    scope.setdefault("state", {})["request_id"] = request_id
    return request_id


def add_request_id(headers: list[tuple[bytes, bytes]], request_id: str) -> None:
    """``X-Request-ID`` on a response, unless it has one."""
    if not any(name.lower() == b"x-request-id" for name, _ in headers):
        headers.append((b"x-request-id", request_id.encode()))


#: Only our own scripts; MapLibre needs blob: workers and inline style attributes, images may be data:/blob:.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "worker-src 'self' blob:; child-src blob:; connect-src 'self'; font-src 'self' data:; object-src 'none'; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)


class SecurityHeadersMiddleware:
    """Security headers on every response; a strict CSP on HTML pages."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Add the headers to the response start."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        static = str(scope.get("path", "")).startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                add_security_headers(message.setdefault("headers", []), static=static)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def add_security_headers(headers: list[tuple[bytes, bytes]], *, static: bool = False) -> None:
    """``nosniff`` on every response, ``Vary: Authorization`` off ``/static/``, CSP and framing on HTML."""
    headers.append((b"x-content-type-options", b"nosniff"))
    if not static:
        add_vary(headers, b"Authorization")
    content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
    if content_type.startswith(b"text/html"):
        headers.append((b"content-security-policy", CSP.encode()))
        headers.append((b"x-frame-options", b"DENY"))
        headers.append((b"referrer-policy", b"same-origin"))


def add_vary(headers: list[tuple[bytes, bytes]], field: bytes) -> None:
    """Add ``field`` to the response's ``Vary`` (once; nothing to add to ``Vary: *``).

    ``Vary: Authorization`` says that answers depend on the bearer token (internal layers are visible to
    staff only): browser and shared caches then never hand a staff member's answer (an internal layer's
    tile, a catalogue listing internal layers) to an anonymous request, or the other way round.
    """
    for i, (name, value) in enumerate(headers):
        if name.lower() == b"vary":
            if field.lower() not in value.lower() and value.strip() != b"*":
                headers[i] = (name, value + b", " + field)
            return
    headers.append((b"vary", field))
