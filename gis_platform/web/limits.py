"""Request limits in one pure ASGI middleware: body size, rate limits, and the statement timeout per kind.

- **Body size**: every request body is bounded (``api.max_body_kb``; the upload routes take
  ``ingest.max_upload_mb``): a declared ``Content-Length`` over the limit is refused before the app runs,
  a streamed body as soon as it passes the limit; both are a 413 problem.
- **Header size**: request headers over :data:`MAX_HEADER_BYTES` in all are a 431 problem (uvicorn's
  httptools parser sets no bound of its own).
- **Rate limits**: writes (POST/PATCH/PUT/DELETE) and expensive reads (downloads, statistics values and
  choropleths, items pages with a filter or a big ``limit``) count per client IP and, when a bearer token is
  sent, per token too (a hash of it: the token is not looked up here). Over a limit: 429 with ``Retry-After``.
  The counting is the maintained ``limits`` library (moving window), in process memory, or shared by every
  worker through Redis when ``REDIS_URL`` is set; if Redis fails, requests pass (fail open) and a warning is
  logged. A load balancer in front usually limits per IP as well.
- **Statement timeout**: the request's kind (tiles, features, downloads, statistics, other) picks its
  ``statement_timeout``; :data:`gis_platform.db.pool.STATEMENT_TIMEOUT_MS` carries it to the connections
  the request takes. A cancelled statement is a 503 problem (see ``problems.py``).
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import time
from dataclasses import dataclass
from urllib.parse import parse_qsl

import asyncpg
from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gis_platform.db.pool import STATEMENT_TIMEOUT_MS
from gis_platform.settings import Settings
from gis_platform.web.problems import problem_response, query_timeout_response

logger = logging.getLogger(__name__)

MB = 1024 * 1024
#: Multipart framing and the small form fields around an uploaded file.
FORM_SLACK = 64 * 1024
#: The most header bytes a request may send (nginx's default buffers allow 32 KB as well).
MAX_HEADER_BYTES = 32 * 1024
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_UPLOAD = re.compile(r"/catalogue/layers/[^/]+/versions|/stats/observations")
_COLLECTION_TILES = re.compile(r"/collections/[^/]+/tiles(/.*)?")
_DOWNLOAD = re.compile(r"/collections/[^/]+/download")
_ITEMS = re.compile(r"/collections/[^/]+/items")
_EXPENSIVE_STATS = ("/stats/values", "/stats/choropleth")


class BodyTooLarge(HTTPException):
    """A request body over its limit (raised while the body is read; rendered as a 413 problem)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body is larger than the limit of {_size(limit)}.")
        self.limit = limit


def _size(n: int) -> str:
    return f"{n / MB:g} MB" if n >= MB else f"{n / 1024:g} KB"


def timeout_kind(path: str) -> str:
    """The kind of a request for its statement timeout: tiles, download, features, stats or default."""
    if path.startswith("/tiles/") or (path.startswith("/collections/") and _COLLECTION_TILES.fullmatch(path)):
        return "tiles"
    if path.startswith("/collections/") and _DOWNLOAD.fullmatch(path):
        return "download"
    if path.startswith(("/collections", "/conformance")):
        return "features"
    if path.startswith("/stats/"):
        return "stats"
    return "default"


def is_expensive_read(path: str, query_string: bytes, big_page: int) -> bool:
    """Downloads, statistics values and choropleths, items pages with a filter or a limit above ``big_page``."""
    if path.startswith("/stats/"):
        return path in _EXPENSIVE_STATS
    if not path.startswith("/collections/"):
        return False
    if _DOWNLOAD.fullmatch(path):
        return True
    if not _ITEMS.fullmatch(path) or not query_string:
        return False
    # no key can decode to ``filter`` or ``limit`` without these bytes (``+`` decodes to a space)
    if b"%" not in query_string and b"filter" not in query_string and b"limit" not in query_string:
        return False
    for key, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if key == "filter" and value:
            return True
        # str.isdigit() is true of "²" too, which int() refuses: only ASCII digits are a number here
        if key == "limit" and (
            not (value.isascii() and value.isdigit()) or len(value) > 9 or int(value) > big_page
        ):
            return True
    return False


@dataclass(frozen=True)
class _Policy:
    per_ip: list[RateLimitItem]
    per_token: list[RateLimitItem]


class RateLimiter:
    """Moving-window counters per IP and token, in memory or in Redis (``limits``)."""

    def __init__(self, settings: Settings) -> None:
        conf = settings.api.rate_limit
        self.writes = _Policy(parse_many(conf.writes_per_ip), parse_many(conf.writes_per_bearer))
        self.reads = _Policy(
            parse_many(conf.expensive_reads_per_ip), parse_many(conf.expensive_reads_per_bearer)
        )
        self.storage: Storage
        if conf.redis and settings.redis_url:
            self.storage = RedisStorage(
                "async+" + settings.redis_url,
                implementation="redispy",
                key_prefix=conf.redis_prefix,
                # a Redis that hangs must not hold writes up: fail open within half a second
                socket_connect_timeout=0.5,
                socket_timeout=0.5,
            )
            self.shared = True
        else:
            self.storage = MemoryStorage()
            self.shared = False
        self.limiter = MovingWindowRateLimiter(self.storage)
        self._warned_at = 0.0

    async def check(self, policy: _Policy, ip: str, token: str | None) -> int | None:
        """Count one request; the seconds to wait when a limit is exceeded, else None."""
        keys: list[tuple[RateLimitItem, str, str]] = [(item, "ip", ip) for item in policy.per_ip]
        if token is not None:
            keys += [(item, "token", token) for item in policy.per_token]
        try:
            for item, scope, key in keys:
                if not await self.limiter.hit(item, scope, key):
                    stats = await self.limiter.get_window_stats(item, scope, key)
                    return max(1, math.ceil(stats.reset_time - time.time()))
        except Exception as exc:  # a shared store that fails must not take the API down: fail open
            if time.monotonic() - self._warned_at > 60:
                self._warned_at = time.monotonic()
                logger.warning("rate limiting skipped, its store failed: %s", type(exc).__name__)
        return None


def _headers(scope: Scope) -> dict[bytes, bytes]:
    return {
        k: v for k, v in scope["headers"] if k in (b"content-length", b"transfer-encoding", b"authorization")
    }


def _token_key(authorization: bytes | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(b" ")
    if scheme.lower() != b"bearer" or not token.strip():
        return None
    return hashlib.sha256(token.strip()).hexdigest()[:24]


class LimitsMiddleware:
    """Body size, rate limits and the statement timeout of each request (see the module docstring)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        db = settings.db
        self.timeouts = {
            "tiles": db.tiles_statement_timeout_ms,
            "download": db.download_statement_timeout_ms,
            "features": db.features_statement_timeout_ms,
            "stats": db.stats_statement_timeout_ms,
            "default": db.statement_timeout_ms,
        }
        self.max_body = settings.api.max_body_kb * 1024
        self.max_upload = int(settings.ingest.max_upload_mb * MB) + FORM_SLACK
        self.rate_limiter = RateLimiter(settings) if settings.api.rate_limit.enabled else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the request, then run it with its statement timeout."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        method: str = scope["method"]
        token = STATEMENT_TIMEOUT_MS.set(self.timeouts[timeout_kind(path)])
        try:
            if sum(len(k) + len(v) + 4 for k, v in scope["headers"]) > MAX_HEADER_BYTES:
                await self._headers_too_large(scope, receive, send)
                return
            headers = _headers(scope)
            if method in WRITE_METHODS or b"content-length" in headers or b"transfer-encoding" in headers:
                limit = self.max_upload if method == "POST" and _UPLOAD.fullmatch(path) else self.max_body
                declared = headers.get(b"content-length", b"")
                if declared.isdigit() and int(declared) > limit:
                    await self._too_large(scope, receive, send, limit)
                    return
                receive = _bounded(receive, limit)
            if self.rate_limiter is not None and await self._throttled(scope, receive, send, headers):
                return
            await self._run(scope, receive, send)
        finally:
            STATEMENT_TIMEOUT_MS.reset(token)

    async def _throttled(
        self, scope: Scope, receive: Receive, send: Send, headers: dict[bytes, bytes]
    ) -> bool:
        assert self.rate_limiter is not None  # noqa: S101 - checked by the caller
        method, path = scope["method"], scope["path"]
        if method in WRITE_METHODS:
            policy, what = self.rate_limiter.writes, "writes"
        elif method in ("GET", "HEAD") and is_expensive_read(
            path, scope.get("query_string", b""), self.settings.api.rate_limit.big_page
        ):
            policy, what = self.rate_limiter.reads, "expensive reads"
        else:
            return False
        client = scope.get("client")
        ip = str(client[0]) if client else "unknown"
        wait = await self.rate_limiter.check(policy, ip, _token_key(headers.get(b"authorization")))
        if wait is None:
            return False
        logger.info("%s %s -> 429 (%s of %s)", method, path, what, ip)
        response = problem_response(
            Request(scope, receive),
            status=429,
            type_="too-many-requests",
            title="Too many requests",
            detail=f"Too many {what} from this client; retry in {wait} s.",
            headers={"Retry-After": str(wait)},
            retry_after=wait,
        )
        await response(scope, receive, send)
        return True

    async def _run(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except BodyTooLarge as exc:  # read outside FastAPI's body parsing (which renders it itself)
            if started:
                raise
            await self._too_large(scope, receive, send, exc.limit)
        except asyncpg.QueryCanceledError:
            # outside the routes' handlers (a middleware's statement, say): still a 503, never a 500
            if started:
                raise
            response = query_timeout_response(Request(scope, receive))
            await response(scope, receive, send)

    async def _headers_too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        logger.info("%s %s -> 431 (headers over %s)", scope["method"], scope["path"], _size(MAX_HEADER_BYTES))
        response = problem_response(
            Request(scope, receive),
            status=431,
            type_="request-header-fields-too-large",
            title="Request header fields too large",
            detail=f"The request headers are larger than the limit of {_size(MAX_HEADER_BYTES)}.",
            limit_bytes=MAX_HEADER_BYTES,
        )
        await response(scope, receive, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        logger.info("%s %s -> 413 (body over %s)", scope["method"], scope["path"], _size(limit))
        if limit == self.max_upload:  # the same problem as the upload routes' own check
            mb = self.settings.ingest.max_upload_mb
            response = problem_response(
                Request(scope, receive),
                status=413,
                type_="upload-too-large",
                title="Upload too large",
                detail=f"The upload is larger than the limit of {mb:g} MB.",
                limit_mb=round(mb, 3),
            )
        else:
            response = problem_response(
                Request(scope, receive),
                status=413,
                type_="content-too-large",
                title="Content too large",
                detail=f"The request body is larger than the limit of {_size(limit)}.",
                limit_bytes=limit,
            )
        await response(scope, receive, send)


def _bounded(receive: Receive, limit: int) -> Receive:
    """``receive`` that raises :class:`BodyTooLarge` once the body passes ``limit`` bytes."""
    total = 0

    async def bounded_receive() -> Message:
        nonlocal total
        message: Message = await receive()
        if message["type"] == "http.request":
            total += len(message.get("body", b""))
            if total > limit:
                raise BodyTooLarge(limit)
        return message

    return bounded_receive


__all__ = ["BodyTooLarge", "LimitsMiddleware", "RateLimiter", "is_expensive_read", "timeout_kind"]
