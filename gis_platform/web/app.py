"""The application factory: ``create_app(settings)`` builds everything; nothing happens at import."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware

from gis_platform import __version__
from gis_platform.admin.router import router as admin_router
from gis_platform.audit.router import router as audit_router
from gis_platform.catalogue.router import router as catalogue_router
from gis_platform.db.migrate import head_revision
from gis_platform.db.pool import Database
from gis_platform.db.urls import resolve_database_url
from gis_platform.errors import DatabaseUnavailable
from gis_platform.events import EventBus
from gis_platform.features.lane import install_items_lane
from gis_platform.features.router import router as features_router
from gis_platform.ingest.jobs import recover_database
from gis_platform.ingest.router import router as ingest_router
from gis_platform.logs import configure_logging
from gis_platform.settings import Settings, get_settings
from gis_platform.stats.aggregates.lifespan import install_aggregates
from gis_platform.stats.joins import install_joins
from gis_platform.stats.router import router as stats_router
from gis_platform.tiles.lifespan import install_tiles
from gis_platform.web.apidocs import router as apidocs_router
from gis_platform.web.health import router as health_router
from gis_platform.web.landing import router as landing_router
from gis_platform.web.limits import LimitsMiddleware
from gis_platform.web.map import router as map_router
from gis_platform.web.middleware import RequestIdMiddleware, SecurityHeadersMiddleware
from gis_platform.web.problems import install_problem_handlers

logger = logging.getLogger(__name__)


async def _recover_ingest(dsn: str, settings: Settings) -> None:
    """Fail the versions and jobs a killed process left behind (the app still starts if the DB is down)."""
    try:
        counts = await asyncio.to_thread(recover_database, dsn, settings.ingest)
    except (OSError, DatabaseUnavailable, psycopg.OperationalError) as exc:
        logger.warning("ingest recovery skipped: %s", exc)
        return
    if any(counts.values()):
        logger.warning("recovered after an unclean stop: %s", counts)


def create_app(settings: Settings | None = None, *, database_url: str | None = None) -> FastAPI:
    """Build the FastAPI app for ``settings``; ``database_url`` overrides where the data lives."""
    settings = settings or get_settings()
    configure_logging(json_logs=settings.log_json)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        dsn = database_url or resolve_database_url(settings)
        db = Database(dsn, settings.db, settings.replica_urls)
        await db.open()
        app.state.db = db
        # one LISTEN connection per worker; subscribers register before the app serves (see events.py)
        events = EventBus(dsn)
        app.state.events = events
        await _recover_ingest(dsn, settings)
        events.start()
        try:
            yield
        finally:
            await events.close()
            runner = getattr(app.state, "ingest_runner", None)
            if runner is not None:
                runner.shutdown(wait=False)
            await db.close()

    app = FastAPI(
        title=settings.api.title,
        version=__version__,
        description="Catalogue, ingest, vector tiles, OGC API - Features and ward statistics on PostGIS.",
        openapi_url="/api",
        docs_url=None,
        swagger_ui_oauth2_redirect_url=None,
        redoc_url=None,
        lifespan=lifespan,
        telemetry=None if settings.api.opentelemetry else {"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.migrations_head = head_revision(settings.migrations_dir)
    install_problem_handlers(app)
    # body size, rate limits and statement timeouts: inside CORS (a 429 stays readable by browsers)
    app.add_middleware(LimitsMiddleware, settings=settings)
    if settings.api.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.api.cors_origins,
            allow_methods=["GET", "HEAD", "OPTIONS", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "If-None-Match"],
            expose_headers=["ETag", "Content-Crs", "Location", "X-Request-ID"],
            max_age=3600,
        )
    # JSON and GeoJSON compress 5-10x; tiles arrive already gzipped and pass through untouched
    app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=5)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(RequestIdMiddleware)
    app.include_router(landing_router)
    app.include_router(health_router)
    app.include_router(admin_router)
    app.include_router(audit_router)
    app.include_router(catalogue_router)
    app.include_router(ingest_router)
    app.include_router(features_router)
    app.include_router(stats_router)
    app.include_router(map_router)
    app.include_router(apidocs_router)
    install_tiles(app)  # routes, tile lanes (in front of the stack, and innermost), tile caches' lifespan
    install_items_lane(app)  # GET /collections/{slug}/items as JSON without routing (same code, same answers)
    install_aggregates(app)  # GET /stats/aggregates; recomputed on publish events, caught up at start
    install_joins(app)  # ?join=indicator on admin-unit tiles and features (statistics)
    return app
