"""HTTP of tiles: the answer for a cached tile, and the lanes that serve tile paths before routing.

:class:`TileLane` is an ASGI middleware installed twice. In front of the middleware stack
(``front=True``) it answers plain requests (:class:`gis_platform.web.front.Asked`: no body, no
``Origin``), adding the headers the stack would add; innermost, just before routing, it answers the
others (cross-origin requests, say) behind request ids, CORS and security headers: matching a route
and parsing its parameters costs more than serving a tile from memory. Other paths (non-integer
coordinates, say) go on to the routes, which answer the same way and document the API.
"""

from __future__ import annotations

import logging
import re
import time
import zlib
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from gis_platform.auth.tokens import PrincipalCache, TokenRejected, authenticate, bearer_token, can_see
from gis_platform.errors import PlatformError
from gis_platform.tiles.models import CachedTile, TileRef
from gis_platform.web.front import Asked, answer_headers, front_send, read_request
from gis_platform.web.middleware import assign_request_id
from gis_platform.web.problems import problem_response

logger = logging.getLogger(__name__)

MVT = b"application/vnd.mapbox-vector-tile"
IMMUTABLE = b"public, max-age=31536000, immutable"
#: Tiles of internal layers: only the caller's own browser may keep them.
PRIVATE_IMMUTABLE = b"private, max-age=31536000, immutable"
_CHALLENGE = 'Bearer realm="gis-platform"'

_TILE_PATH = re.compile(
    r"/tiles/([a-z0-9_,-]+)/(?:v([0-9,~A-Za-z_.-]+)/)?([0-9]{1,2})/([0-9]{1,9})/([0-9]{1,9})\.(?:mvt|pbf)"
)
_OGC_PATH = re.compile(
    r"/collections/([a-z0-9_-]+)/tiles/WebMercatorQuad/([0-9]{1,2})/([0-9]{1,9})/([0-9]{1,9})"
)

Headers = list[tuple[bytes, bytes]]


def short_cache_control(max_age: int) -> bytes:
    """``Cache-Control`` of unversioned tile URLs."""
    return f"public, max-age={max_age}".encode()


def tile_cache_control(ref: TileRef, short: bytes) -> bytes:
    """``Cache-Control`` of a tile of ``ref``: public for public layers, private when one is internal."""
    if ref.public:
        return IMMUTABLE if ref.versioned else short
    return PRIVATE_IMMUTABLE if ref.versioned else short.replace(b"public", b"private", 1)


async def tile_access(app: Any, header: bytes) -> bool:
    """Whether the bearer token in ``header`` may see internal layers; :class:`TokenRejected` for a bad one.

    Valid tokens are remembered for a second (``app.state.tile_tokens``): a map asks for dozens of tiles
    at once, and each would otherwise cost a database round trip.
    """
    token = bearer_token(header.decode("latin-1"))
    if not token:
        raise TokenRejected("Use a bearer token (Authorization: Bearer …) or none.",
                            headers={"WWW-Authenticate": _CHALLENGE})  # fmt: skip
    cache: PrincipalCache | None = getattr(app.state, "tile_tokens", None)
    if cache is None:
        cache = app.state.tile_tokens = PrincipalCache()
    now = time.monotonic()
    principal = cache.get(token, now)
    if principal is None:
        async with app.state.db.connection() as conn:
            principal = await authenticate(conn, token)
        if principal is None:
            raise TokenRejected("The bearer token is unknown or revoked.",
                                headers={"WWW-Authenticate": f'{_CHALLENGE}, error="invalid_token"'})  # fmt: skip
        cache.put(token, principal, now)
    return can_see(principal, "internal")


#: The ``Vary`` of every tile answer (the lane in front adds what the middleware stack adds to it).
TILE_VARY: Headers = [(b"vary", b"Accept-Encoding")]


def render_tile(
    tile: CachedTile, accept_encoding: bytes, if_none_match: bytes | None, cache_control: bytes,
    vary: Headers = TILE_VARY,
) -> tuple[int, Headers, bytes]:  # fmt: skip
    """Status, headers and body for a tile: 200 (gzip when accepted), 204 empty, 304 not modified."""
    gzip_ok = tile.gzipped and b"gzip" in accept_encoding
    etag = tile.etag if gzip_ok else tile.etag_identity
    headers: Headers = [(b"cache-control", cache_control), *vary, (b"etag", etag)]
    # either representation's ETag validates: both name the same content
    if if_none_match is not None and (tile.tag in if_none_match or if_none_match.strip() == b"*"):
        return 304, headers, b""
    if tile.empty:
        return 204, headers, b""
    if gzip_ok:
        body = tile.data
        headers.append((b"content-encoding", b"gzip"))
    else:
        body = zlib.decompress(tile.data, 31) if tile.gzipped else tile.data
    headers.append((b"content-type", MVT))
    headers.append((b"content-length", str(len(body)).encode()))
    return 200, headers, body


class RawResponse(Response):
    """A response whose header list is already built (no per-request header normalisation)."""

    def __init__(self, status: int, headers: Headers, body: bytes) -> None:
        self.status_code = status
        self.body = body
        self.background = None
        self.raw_headers = headers


class TileLane:
    """Serve well-formed ``GET`` tile requests before routing (a cache hit costs no await at all).

    Requests whose path does not look like a tile (non-integer coordinates, say) go on to the routes,
    which answer them (and document the API); errors of the service become problem+json here too.
    """

    def __init__(self, app: ASGIApp, *, front: bool = False, cors: bool = False) -> None:
        """``front``: placed in front of the middleware stack, whose headers it adds (``cors``: CORS is on)."""
        self.app = app
        self.front = front
        self.cors = cors
        # Vary and the security headers of a tile answer, as the stack would add them (once, not per tile)
        self.vary = answer_headers(TILE_VARY[0][1], cors=cors) if front else TILE_VARY

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve a tile, or pass the request on."""
        if scope["type"] == "http" and scope["method"] == "GET":
            parsed = _parse(scope["path"])
            if parsed is not None:
                service = getattr(getattr(scope.get("app"), "state", None), "tiles", None)
                if service is not None:
                    asked = read_request(scope)
                    if asked.plain or not self.front:
                        await self._serve(service, parsed, asked, scope, receive, send)
                        return
        await self.app(scope, receive, send)

    async def _serve(
        self, service: Any, parsed: _Parsed, asked: Asked, scope: Scope, receive: Receive, send: Send
    ) -> None:
        slugs, versions, z, x, y = parsed
        # in front of the stack, the request id is this lane's to give
        request_id = assign_request_id(scope, asked.request_id) if self.front else None
        try:
            internal = False
            if asked.authorization is not None:
                internal = await tile_access(scope["app"], asked.authorization)
            query: bytes = scope.get("query_string", b"")
            joined = query.startswith(b"join=") or b"&join=" in query  # statistics joined in (?join=…)
            found = None if joined else service.cached(slugs, versions, z, x, y, internal=internal)
            if found is None:
                if joined:
                    params = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
                    provider = getattr(scope["app"].state, "tile_join_provider", None)
                    ref = await service.resolve_joined(slugs, versions, params, provider, internal=internal)
                else:
                    ref = await service.resolve(slugs, versions, internal=internal)
                found = (await service.tile(ref, z, x, y), ref)
        except PlatformError as exc:
            logger.info("GET %s -> %s %s", scope["path"], exc.status, exc.detail)
            request = Request(scope, receive, send)
            problem = problem_response(
                request,
                status=exc.status,
                type_=exc.type,
                title=exc.title,
                detail=exc.detail,
                **exc.extensions,
            )
            if request_id is not None:
                send = front_send(send, request_id, cors=self.cors)
            await problem(scope, receive, send)
            return
        tile, ref = found
        control = tile_cache_control(ref, service.short_cache_control)
        status, headers, body = render_tile(
            tile, asked.accept_encoding, asked.if_none_match, control, self.vary
        )
        if request_id is not None:
            headers.append((b"x-request-id", request_id.encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


_Parsed = tuple[str, str | None, int, int, int]


def _parse(path: str) -> _Parsed | None:
    if path.startswith("/tiles/"):
        m = _TILE_PATH.fullmatch(path)
        if m is not None:
            return m.group(1), m.group(2), int(m.group(3)), int(m.group(4)), int(m.group(5))
    elif path.startswith("/collections/"):
        m = _OGC_PATH.fullmatch(path)
        if m is not None:  # OGC API - Tiles: row (y) before column (x)
            return m.group(1), None, int(m.group(2)), int(m.group(4)), int(m.group(3))
    return None
