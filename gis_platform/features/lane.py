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
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gis_platform.auth.deps import get_access
from gis_platform.errors import InvalidParameter
from gis_platform.features import params, queries, responses, service
from gis_platform.features.deps import features_connections, get_collection, get_urls, negotiate
from gis_platform.features.models import Collection, ItemsQuery
from gis_platform.features.queries import PageStatements

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

    def __init__(self, app: ASGIApp, *, prepared_size: int = PREPARED_SIZE) -> None:
        self.app = app
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
                if match is not None and await self._serve(match.group(1), scope, receive, send):
                    return
        await self.app(scope, receive, send)

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


def install_items_lane(app: FastAPI) -> None:
    """Add :class:`ItemsLane` as the innermost middleware (after the tile lane, if any)."""
    app.user_middleware.append(Middleware(ItemsLane))


__all__ = ["ItemsLane", "install_items_lane"]
