"""``GET /health``: is the platform able to serve?"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from fastapi import APIRouter, Request

from gis_platform.web.deps import ConnDep

router = APIRouter(tags=["health"])


@router.get("/health", name="health", summary="Service health with the PostGIS version and migration state")
async def health(request: Request, conn: ConnDep) -> dict[str, Any]:
    """Answer 200 when the database answers; 503 problem+json otherwise."""
    row = await conn.fetchrow(
        """
        SELECT postgis_lib_version() AS postgis, current_setting('server_version') AS postgres,
               CASE WHEN to_regclass('public.alembic_version') IS NULL THEN NULL
                    ELSE (SELECT version_num FROM public.alembic_version LIMIT 1) END AS revision
        """
    )
    head: str | None = request.app.state.migrations_head
    revision = row["revision"] if row else None
    return {
        "status": "ok",
        "postgis_version": row["postgis"] if row else None,
        "postgres_version": row["postgres"] if row else None,
        "migrations": {"current": revision, "head": head, "at_head": revision == head},
        "replicas": request.app.state.db.replica_status(),
        "worker": _worker(request),
    }


def _worker(request: Request) -> dict[str, Any]:
    """Which worker process answered, and its tile counters (each worker has its own)."""
    tiles = getattr(request.app.state, "tiles", None)
    events = getattr(request.app.state, "events", None)
    return {
        "pid": os.getpid(),
        "tiles": dataclasses.asdict(tiles.stats) if tiles is not None else None,
        "events_listening": events.listening.is_set() if events is not None else None,
    }
