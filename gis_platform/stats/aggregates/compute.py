"""Compute layer aggregates (psycopg): one set-based statement per published layer version.

Each version is computed in its own transaction holding an advisory lock on it, so several workers
(or a worker and the CLI) never compute one version twice; a version already computed on the current
boundaries is skipped. The atoms (see ``queries``) are rebuilt first when any unit's geometry changed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg

from gis_platform.stats.aggregates import queries

logger = logging.getLogger(__name__)

POINT_TYPES = frozenset({"Point", "MultiPoint"})


@dataclass
class AggregateResult:
    """What happened to one layer version."""

    slug: str
    version: int
    status: str  # computed, up to date, busy, not published
    units: int = 0
    seconds: float = 0.0


@dataclass
class AggregateReport:
    """What a run did."""

    pieces: dict[str, int] = field(default_factory=dict)
    results: list[AggregateResult] = field(default_factory=list)
    dropped: int = 0

    @property
    def computed(self) -> int:
        """How many versions were (re)computed."""
        return sum(1 for r in self.results if r.status == "computed")


def _boundaries(
    conn: psycopg.Connection[Any], known: tuple[str, int] | None = None
) -> tuple[dict[str, int], str]:
    """Rebuild the atoms when the units changed; return what was built and the boundaries' fingerprint."""
    current, units = known or queries.units_fingerprint(conn)
    if queries.atoms_fingerprint(conn) == current:
        return {}, current
    with conn.transaction():
        queries.lock_pieces(conn)
        if queries.atoms_fingerprint(conn) == current:  # another session built them meanwhile
            return {}, current
        start = time.perf_counter()
        built = queries.build_atoms(conn, current, units)
        queries.set_build_seconds(conn, round(time.perf_counter() - start, 3))
    logger.info("unit atoms rebuilt: %s", built)
    return built, current


def _compute_one(
    conn: psycopg.Connection[Any], version_id: int, boundaries: str, force: bool
) -> AggregateResult | None:
    with conn.transaction():
        version = queries.select_version(conn, version_id)
        if version is None:
            return None
        result = AggregateResult(version["slug"], int(version["version"]), "not published")
        if version["status"] != "published":
            return result
        if not queries.try_lock_version(conn, version_id):
            result.status = "busy"
            return result
        if not force and queries.run_boundaries(conn, version_id) == boundaries:
            result.status = "up to date"
            return result
        start = time.perf_counter()
        points = version["geometry_type"] in POINT_TYPES
        result.units = queries.compute(conn, version, boundaries, points=points)
        result.seconds = round(time.perf_counter() - start, 3)
        queries.finish_run(conn, version_id, result.units, int(version["feature_count"] or 0), result.seconds)
        queries.delete_unpublished(conn, int(version["layer_id"]))
        result.status = "computed"
    logger.info(
        "aggregates of %s v%s: %s units in %ss", result.slug, result.version, result.units, result.seconds
    )
    return result


def aggregate(
    conn: psycopg.Connection[Any], slugs: Sequence[str] | None = None, *, force: bool = False,
    stale_only: bool = False,
) -> AggregateReport:  # fmt: skip
    """Compute the aggregates of the published versions of ``slugs`` (all when None).

    The atoms are rebuilt first when the units' geometries changed. With ``stale_only`` versions
    already computed on the current boundaries are not even locked (the startup catch-up); ``force``
    recomputes them anyway.
    """
    report = AggregateReport()
    known = queries.units_fingerprint(conn)
    versions = queries.select_versions(conn, slugs)
    if stale_only and not force:
        versions = [v for v in versions if v["boundaries"] != known[0]]
    if not versions:  # nothing to compute: do not build atoms for nothing (e.g. a database without layers)
        return report
    report.pieces, boundaries = _boundaries(conn, known)
    for v in versions:
        result = _compute_one(conn, int(v["id"]), boundaries, force)
        if result is not None:
            report.results.append(result)
    with conn.transaction():
        report.dropped = queries.delete_unpublished(conn, None)
    return report


def aggregate_version(conn: psycopg.Connection[Any], slug: str, version: int) -> AggregateResult | None:
    """Compute one version (the publish event's ``"<slug>:<version>"``); None when it does not exist."""
    version_id = queries.select_version_by_slug(conn, slug, version)
    if version_id is None:
        return None
    _, boundaries = _boundaries(conn)
    return _compute_one(conn, version_id, boundaries, False)


def parse_event(payload: str) -> tuple[str, int] | None:
    """``"<slug>:<version>"`` → (slug, version), None when malformed."""
    slug, _, number = payload.rpartition(":")
    if not slug or not number.isdigit():
        return None
    return slug, int(number)
