"""A layer's published version: publish, roll back, and clean up versions whose loader died.

Publishing is one transaction that flips the layer's current version and its view; until then the old
version serves. Before it, the version's tile pyramid is built when its layer thins or clusters points
(:mod:`gis_platform.tiles.pyramid`), so the version is served with it from the first request. These steps
need only the database: they are apart from the loader (:mod:`gis_platform.ingest.loader`, Arrow and
shapely), which web workers and the command line import only when they load a file.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import psycopg

from gis_platform.errors import NotFound
from gis_platform.ingest import queries
from gis_platform.ingest.errors import VersionConflict
from gis_platform.ingest.types import VersionInfo
from gis_platform.tiles import pyramid as tile_pyramid

logger = logging.getLogger(__name__)


def publish_version(conn: psycopg.Connection[Any], slug: str, version: int, *, actor: str) -> VersionInfo:
    """Make ``version`` the one every reader sees, in one transaction; the old one becomes superseded."""
    return _switch(conn, slug, version, actor=actor, action="publish")


def rollback_to(conn: psycopg.Connection[Any], slug: str, version: int, *, actor: str) -> VersionInfo:
    """Publish an earlier version again."""
    return _switch(conn, slug, version, actor=actor, action="rollback")


def require_autocommit(conn: psycopg.Connection[Any]) -> None:
    """Refuse a connection outside autocommit (``ValueError``).

    Each step must really commit (a crashed loader is found by its committed 'loading' row, and a
    publish must not hold its locks inside some outer transaction), so ``transaction()`` blocks
    must be top-level transactions, not savepoints.
    """
    if not conn.autocommit:
        raise ValueError("the ingest pipeline needs a connection opened with autocommit=True")


def _switch(
    conn: psycopg.Connection[Any], slug: str, version: int, *, actor: str, action: str
) -> VersionInfo:
    require_autocommit(conn)
    # the version's tile pyramid is part of it: (re)built before anyone can be served the version
    try:
        pyramid = tile_pyramid.prepare(conn, slug, version)
    except psycopg.Error as exc:  # tiles then count per request: slower, never wrong
        logger.warning("%s v%s: no tile pyramid (%s: %s)", slug, version, type(exc).__name__, exc)
        pyramid = None
    with conn.transaction():
        conn.execute("SET LOCAL lock_timeout = '15s'")
        layer = queries.select_layer_for_update(conn, slug)
        if layer is None:
            raise NotFound(f"No layer {slug!r} in the catalogue.", parameter="slug")
        queries.lock_layer(conn, layer["id"])
        row = queries.select_version(conn, layer["id"], version)
        if row is None:
            raise NotFound(f"Layer {slug!r} has no version {version}.", parameter="version")
        allowed = (
            ("validated", "superseded", "published") if action == "rollback" else ("validated", "published")
        )
        if row["status"] not in allowed:
            raise VersionConflict(
                f"Version {version} of {slug!r} is {row['status']}; only {' or '.join(allowed)} versions can be "
                f"{'rolled back to' if action == 'rollback' else 'published'}.",
                parameter="version",
            )
        previous = queries.set_published(conn, layer["id"], version)
        queries.point_view(conn, slug, row["table_name"])
        queries.notify_published(conn, slug, version)
        queries.insert_audit(
            conn,
            {"actor": actor, "action": action, "layer_slug": slug, "version_before": previous,
             "version_after": version, "details": json.dumps({"table": row["table_name"], "tile_pyramid": pyramid})},
        )  # fmt: skip
    report = dict(row["validation_report"] or {})
    if pyramid is not None:
        report["tile_pyramid"] = pyramid
    return VersionInfo(
        layer_id=layer["id"], slug=slug, version=version, table_name=row["table_name"], status="published",
        version_id=row["id"], feature_count=row["feature_count"] or 0, bbox=row["bbox"],
        geometry_type=row["geometry_type"], report=report,
    )  # fmt: skip


def recover_abandoned_versions(conn: psycopg.Connection[Any]) -> list[tuple[int, int]]:
    """Mark versions whose loader died as failed and drop their tables; return (layer_id, version) pairs."""
    require_autocommit(conn)
    recovered = []
    with conn.transaction():
        for row in queries.select_stale_loading(conn):
            queries.drop_data_table(conn, row["table_name"])
            queries.update_version(
                conn,
                row["id"],
                {"status": "failed", "error": "The loader stopped before the version was complete."},
            )
            recovered.append((int(row["layer_id"]), int(row["version"])))
    if recovered:
        logger.warning("marked %d abandoned loading versions failed", len(recovered))
    return recovered


__all__ = ["publish_version", "recover_abandoned_versions", "require_autocommit", "rollback_to"]
