"""Pure ASGI middleware (no BaseHTTPMiddleware on the hot paths)."""

from __future__ import annotations

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
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"")
        request_id = incoming.decode("latin-1")[:64] if incoming.isalnum() else secrets.token_hex(8)
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                if not any(name.lower() == b"x-request-id" for name, _ in headers):
                    headers.append((b"x-request-id", request_id.encode()))
            await send(message)

        await self.app(scope, receive, send_with_id)


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
                headers = message.setdefault("headers", [])
                headers.append((b"x-content-type-options", b"nosniff"))
                if not static:
                    _vary_on_authorization(headers)
                content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                if content_type.startswith(b"text/html"):
                    headers.append((b"content-security-policy", CSP.encode()))
                    headers.append((b"x-frame-options", b"DENY"))
                    headers.append((b"referrer-policy", b"same-origin"))
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _vary_on_authorization(headers: list[tuple[bytes, bytes]]) -> None:
    """Say that answers depend on the bearer token (internal layers are visible to staff only).

    Browser and shared caches then never hand a staff member's answer (an internal layer's tile, a
    catalogue listing internal layers) to an anonymous request, or the other way round.
    """
    for i, (name, value) in enumerate(headers):
        if name.lower() == b"vary":
            if b"authorization" not in value.lower() and value.strip() != b"*":
                headers[i] = (name, value + b", Authorization")
            return
    headers.append((b"vary", b"Authorization"))
