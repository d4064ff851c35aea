"""The items lane: GeoJSON pages of ``GET /collections/{id}/items`` served before routing.

Like the inner tile lane (:mod:`gis_platform.tiles.http`), :class:`ItemsLane` is an ASGI middleware installed
innermost (behind request ids, security headers, gzip, CORS and :mod:`gis_platform.web.limits`, so rate
limits and statement timeouts apply as before). It runs the route's own steps with the route's own code
— the features connection, :func:`gis_platform.auth.deps.get_access`, the cached collection, the
parameters (:func:`gis_platform.features.params.items_query`), the page statements and
:func:`gis_platform.features.responses.page_response` — without FastAPI's routing and dependency
resolution. Errors go to the app's exception handlers, so they are the same problem+json.

Anything else goes on to the routes: other formats (``f=html``, ``f=csv``, an ``Accept`` preferring
them, an invalid ``f``), ``join=``, ``HEAD``, a mounted ``root_path``, paths that are not a plain slug.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gis_platform.auth.deps import get_access
from gis_platform.errors import InvalidParameter
from gis_platform.features import params, queries, responses, service
from gis_platform.features.deps import features_connections, get_collection, get_urls, negotiate
from gis_platform.features.models import Collection, ItemsQuery
from gis_platform.features.queries import PageStatements
from gis_platform.settings import Settings
from gis_platform.web.front import front_send, read_request
from gis_platform.web.limits import is_expensive_read
from gis_platform.web.middleware import assign_request_id

#: ``/collections/{slug}/items`` with a slug a layer can have (``service.SLUG``); others go to the routes.
_ITEMS_PATH = re.compile(r"/collections/([a-z0-9][a-z0-9_-]{1,62})/items")
_FORMATS = ("json", "html", "csv")
#: Pages whose parameters and statements are kept (see :class:`ItemsLane`).
PREPARED_SIZE = 512
PREPARED_MAX_QUERY = 2048


def _exception_handler(app: Any, exc: Exception) -> Any:
    """The app's handler for ``exc`` as Starlette's ExceptionMiddleware picks it (None: let it rise).

    ``Exception`` itself is left to the server-error middleware, as for the routes.
    """
    handlers: dict[Any, Any] = getattr(app, "exception_handlers", {})
    if isinstance(exc, HTTPException) and exc.status_code in handlers:
        return handlers[exc.status_code]
    for cls in type(exc).__mro__:
        if cls is Exception:
            return None
        if cls in handlers:
            return handlers[cls]
    return None


class ItemsLane:
    """Serve GeoJSON items pages before routing; pass every other request on.

    The validated parameters and rendered statements of recent pages are kept per (version table, query
    string): a version's columns never change, and the same pages are asked for again and again (a map's
    view, a client paging). Invalid requests are not kept: they are checked each time.
    """

    def __init__(
        self, app: ASGIApp, *, prepared_size: int = PREPARED_SIZE, front: bool = False, cors: bool = False,
        big_page: int | None = None, gzip: dict[str, Any] | None = None,
    ) -> None:  # fmt: skip
        """A lane innermost, or in front of the middleware stack (``front``, see :func:`install_items_lane`).

        ``big_page``: pages above it are rate-limited (the stack's; None when rate limits are off);
        ``gzip``: the app's gzip middleware settings (answers are compressed, or not, as the stack would).
        """
        self.app = app
        self.front = front
        self.cors = cors
        self.big_page = big_page
        self.gzip: ASGIApp | None = None
        if front:
            self.gzip = GZipMiddleware(self._answer_plain, **(gzip or {}))
        self.prepared_size = prepared_size
        self._prepared_pages: dict[tuple[int, str, int, bytes], tuple[ItemsQuery, PageStatements]] = {}

    async def _prepared(
        self, layer: Collection, query_string: bytes, given: list[tuple[str, str]]
    ) -> tuple[ItemsQuery, PageStatements]:
        """The page's :class:`ItemsQuery` and statements (validated and rendered once per key)."""
        if layer.joins or len(query_string) > PREPARED_MAX_QUERY:  # nothing to share, or too big to keep
            query = await params.items_query(given, layer)
            return query, queries.page_statements(layer, query, responses.OUTPUTS["json"])
        key = (layer.layer_id, layer.table, layer.version, query_string)
        found = self._prepared_pages.get(key)
        if found is None:
            query = await params.items_query(given, layer)
            found = (query, queries.page_statements(layer, query, responses.OUTPUTS["json"]))
            if len(self._prepared_pages) >= self.prepared_size:
                self._prepared_pages.pop(next(iter(self._prepared_pages)))
            self._prepared_pages[key] = found
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve an items page, or pass the request on."""
        if scope["type"] == "http" and scope["method"] == "GET" and not scope.get("root_path"):
            path: str = scope["path"]
            if path.startswith("/collections/") and path.endswith("/items"):
                match = _ITEMS_PATH.fullmatch(path)
                if match is not None:
                    if self.gzip is None:
                        if await self._serve(match.group(1), scope, receive, send):
                            return
                    elif await self._front(match.group(1), scope, receive, send):
                        return
        await self.app(scope, receive, send)

    async def _front(self, slug: str, scope: Scope, receive: Receive, send: Send) -> bool:
        """In front of the stack: a plain, not rate-limited request, answered with the stack's headers."""
        assert self.gzip is not None  # noqa: S101 - front lanes have one
        asked = read_request(scope)
        if not asked.plain:
            return False
        if self.big_page is not None and is_expensive_read(
            scope["path"], scope["query_string"], self.big_page
        ):
            return False
        scope["gis.items"] = slug
        state = {"answered": False}
        scope["gis.items.state"] = state
        request_id = assign_request_id(scope, asked.request_id)
        await self.gzip(scope, receive, front_send(send, request_id, cors=self.cors))
        return state["answered"]

    async def _answer_plain(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The front lane's app behind the gzip middleware: answer, or say it did not (nothing sent)."""
        scope["gis.items.state"]["answered"] = await self._serve(scope["gis.items"], scope, receive, send)

    async def _serve(self, slug: str, scope: Scope, receive: Receive, send: Send) -> bool:
        """Answer the request (True), or leave it to the routes (False) before doing anything."""
        app = scope.get("app")
        if app is None or getattr(app.state, "db", None) is None:
            return False
        request = Request(scope, receive)
        try:
            if negotiate(request, _FORMATS) != "json":
                return False
        except InvalidParameter:  # the routes say so, in their order of checks
            return False
        given = request.query_params.multi_items()
        if any(name == "join" for name, _ in given):  # statistics joined in: the route's provider
            return False
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            # the route's steps, in the order FastAPI resolves its dependencies
            pools = features_connections(app)
            async with pools.connection() as conn:
                access = await get_access(request)
                layer = await get_collection(request, conn, access, slug)
                urls = await get_urls(request)
                query, statements = await self._prepared(layer, scope.get("query_string", b""), given)
                rows = await service.open_rows(
                    conn, layer, query, responses.OUTPUTS["json"], statements=statements,
                    side=pools.connection if pools.spare() else None,
                )  # fmt: skip
                response = await responses.page_response("json", rows, urls, layer, query)
                await response(scope, receive, tracking_send)  # a long page streams from the connection
        except Exception as exc:
            handler = None if started else _exception_handler(app, exc)
            if handler is None:
                raise
            problem = await handler(request, exc)
            await problem(scope, receive, send)
        return True


def install_items_lane(app: FastAPI, lane: type[ItemsLane] = ItemsLane) -> None:
    """Add :class:`ItemsLane` innermost (after the tile lane, if any), and in front of the middleware stack.

    In front, it answers plain requests (:class:`gis_platform.web.front.Asked`: no body, no ``Origin``)
    that are not rate-limited, through the app's own gzip middleware settings, adding the headers the
    stack adds (:func:`gis_platform.web.front.front_send`); the others go through the stack to the inner
    lane. Call after the app's middleware is added.
    """
    settings: Settings | None = getattr(app.state, "settings", None)
    factories: list[tuple[Any, dict[str, Any]]] = [(m.cls, dict(m.kwargs)) for m in app.user_middleware]
    gzip = next((kwargs for factory, kwargs in factories if factory is GZipMiddleware), None)
    if settings is not None and gzip is not None:
        limits = settings.api.rate_limit
        app.user_middleware.insert(0, Middleware(
            lane, front=True, cors=bool(settings.api.cors_origins), gzip=gzip,
            big_page=limits.big_page if limits.enabled else None,
        ))  # fmt: skip
    app.user_middleware.append(Middleware(lane))


__all__ = ["ItemsLane", "install_items_lane"]
