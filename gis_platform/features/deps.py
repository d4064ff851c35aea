"""Dependencies of the features routes: the connection, the collection, URL building, format negotiation.

All are ``async def``: FastAPI runs a plain ``def`` dependency in its thread pool, and those hand-offs
cost more than a whole small page on a busy machine (hence the features' own connection dependency).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, Path, Request

from gis_platform.auth.deps import VisibilityDep
from gis_platform.db.pool import Database
from gis_platform.errors import InvalidParameter
from gis_platform.features import service
from gis_platform.features.cache import CollectionCache
from gis_platform.features.connections import FeatureConnections
from gis_platform.features.links import Urls
from gis_platform.features.models import Collection
from gis_platform.features.params import reject_unknown
from gis_platform.features.service import TimeExtents
from gis_platform.settings import Settings

_ALIASES = {"json": "json", "geojson": "json", "html": "html", "csv": "csv"}
_ACCEPT = {
    "text/html": "html", "application/xhtml+xml": "html", "application/geo+json": "json",
    "application/json": "json", "text/csv": "csv", "application/problem+json": "json",
}  # fmt: skip


async def get_connection(request: Request) -> AsyncIterator[asyncpg.Connection]:
    """A pooled connection for the request (held until the streamed response ends); a replica may serve it.

    It comes from the features' own pools, whose sessions start with the page statements' settings.
    """
    async with features_connections(request.app).connection() as conn:
        yield conn


def features_connections(app: Any) -> FeatureConnections:
    """The app's features pools (created on first use when the router's lifespan did not run)."""
    connections: FeatureConnections | None = getattr(app.state, "features_connections", None)
    if connections is None:
        db: Database = app.state.db
        connections = FeatureConnections(db.dsn, app.state.settings.db, database=db)
        app.state.features_connections = connections
    return connections


FeaturesConnDep = Annotated[asyncpg.Connection, Depends(get_connection)]


async def get_collection(
    request: Request,
    conn: FeaturesConnDep,
    access: VisibilityDep,
    collection_id: Annotated[str, Path(alias="collectionId", description="The collection (layer slug).")],
) -> Collection:
    """The collection named in the path (404 when it is not a published layer the caller may see)."""
    cache: CollectionCache | None = getattr(request.app.state, "features_collections", None)
    if cache is None:
        cache = CollectionCache()
        events = getattr(request.app.state, "events", None)
        if events is not None:
            cache.subscribe(events)
        else:  # nothing would tell this process about a publish
            cache.ttl_s = 0.0
        request.app.state.features_collections = cache
    return await cache.get(
        collection_id, access.internal, lambda: service.get_collection(conn, collection_id, access.internal)
    )


async def get_urls(request: Request) -> Urls:
    """URL builder of this request, on the public base URL when one is configured."""
    settings: Settings = request.app.state.settings
    base = settings.api.public_url or str(request.base_url)
    return Urls(base, request.url.path, request.query_params.multi_items())


async def get_time_extents(request: Request) -> TimeExtents:
    """The app's cache of temporal extents (created on first use)."""
    cache: TimeExtents | None = getattr(request.app.state, "features_time_extents", None)
    if cache is None:
        cache = TimeExtents()
        request.app.state.features_time_extents = cache
    return cache


def negotiate(request: Request, allowed: tuple[str, ...]) -> str:
    """``f`` when given (400 if unsupported), else the best of ``Accept``; JSON by default."""
    values = request.query_params.getlist("f")
    if values:
        fmt = _ALIASES.get(values[-1].strip().lower())
        if len(values) > 1 or fmt not in allowed:
            raise InvalidParameter("f", f"'f' must be one of: {', '.join(allowed)}.")
        return fmt
    best, best_q = "json", 0.0
    for i, part in enumerate(request.headers.get("accept", "").split(",")):
        media, _, params = part.strip().partition(";")
        fmt = _ACCEPT.get(media.strip().lower())
        if fmt is None or fmt not in allowed:
            continue
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        q -= i * 1e-6  # equal weights: the first listed wins
        if q > best_q:
            best, best_q = fmt, q
    return best


async def json_html(request: Request) -> str:
    """Format of a metadata resource (json or html); it takes no other parameter."""
    reject_unknown(request.query_params.multi_items(), {"f"})
    return negotiate(request, ("json", "html"))


async def item_format(request: Request) -> str:
    """Format of one feature: json or html."""
    return negotiate(request, ("json", "html"))


async def json_html_csv(request: Request) -> str:
    """Format of the items resources: json, html or csv."""
    return negotiate(request, ("json", "html", "csv"))


CollectionDep = Annotated[Collection, Depends(get_collection)]
UrlsDep = Annotated[Urls, Depends(get_urls)]
TimeExtentsDep = Annotated[TimeExtents, Depends(get_time_extents)]
MetaFormatDep = Annotated[str, Depends(json_html)]
ItemFormatDep = Annotated[str, Depends(item_format)]
ItemsFormatDep = Annotated[str, Depends(json_html_csv)]
