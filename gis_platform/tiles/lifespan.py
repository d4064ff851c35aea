"""Start and stop the tile service with the app; ``install_tiles`` wires routes and lifespan in one call."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.middleware import Middleware
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipMiddleware

from gis_platform.db.pool import Database
from gis_platform.settings import Settings
from gis_platform.tiles.connections import TileConnections
from gis_platform.tiles.http import TileLane
from gis_platform.tiles.router import MVT, router
from gis_platform.tiles.service import TileService
from gis_platform.web.lifespan import nest_lifespan


def build_service(settings: Settings, db: Database) -> TileService:
    """A tile service reading the catalogue through ``db`` and tiles through its own pools."""
    connections = TileConnections(db.dsn, settings.db, max_size=settings.tiles.pool_max_size, database=db)
    return TileService(
        settings.tiles, connection=db.connection, tile_connections=connections, redis_url=settings.redis_url
    )


async def start_tiles(app: FastAPI) -> TileService:
    """Build the tile service after the pool is open (``app.state.db``) and keep it on ``app.state.tiles``."""
    settings: Settings = app.state.settings
    db: Database = app.state.db
    service = build_service(settings, db)
    # the worker's one LISTEN connection (web/app.py); apps built without it refresh on the TTL only
    await service.start(events=getattr(app.state, "events", None))
    app.state.tiles = service
    return service


async def stop_tiles(app: FastAPI) -> None:
    """Finish cache writes, close Redis and the tile pools."""
    service: TileService | None = getattr(app.state, "tiles", None)
    if service is not None:
        await service.close()
        app.state.tiles = None


@asynccontextmanager
async def tiles_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Run the tile service for the body; enter it inside the app's lifespan, after the pool is open."""
    await start_tiles(app)
    try:
        yield
    finally:
        await stop_tiles(app)


def _leave_tiles_to_the_tile_cache(app: FastAPI) -> None:
    """Keep a gzip middleware off tiles: they are gzipped once, off the loop, and cached that way."""
    for entry in app.user_middleware:
        factory: Any = entry.cls
        if factory is GZipMiddleware:
            configured: Any = entry.kwargs.get("exclude_content_types", DEFAULT_EXCLUDED_CONTENT_TYPES)
            excluded = tuple(str(t) for t in configured)
            if MVT not in excluded:
                entry.kwargs["exclude_content_types"] = (*excluded, MVT)


def install_tiles(app: FastAPI, *, lane: bool = True) -> None:
    """Add the tile routes, the tile lane and :func:`tiles_lifespan` (inside the app's lifespan).

    Without ``lane`` the routes alone serve tiles (the same answers, with the cost of routing).
    """
    app.include_router(router)
    _leave_tiles_to_the_tile_cache(app)
    if lane:
        settings: Settings | None = getattr(app.state, "settings", None)
        cors = bool(settings.api.cors_origins) if settings is not None else True
        # in front of the stack for plain requests (the stack's headers added), and innermost, inside
        # request ids, CORS and security headers, for the others: those skip only the routing
        app.user_middleware.insert(0, Middleware(TileLane, front=True, cors=cors))
        app.user_middleware.append(Middleware(TileLane))
    nest_lifespan(app, tiles_lifespan)


__all__ = ["install_tiles", "router", "start_tiles", "stop_tiles", "tiles_lifespan"]
