"""A version's point pyramid, built at publish: the thinned/clustered cells of its low zooms, counted once.

Thinning and clustering group a tile's points by a grid of ``grid_cells`` cells per tile side; at low
zooms a tile holds most of a large layer, so counting its cells per request reads every point. The
pyramid (``layerdata.<table>_thin``) holds, per zoom the layer thins or clusters, one row per occupied
cell: the cell's lowest-fid point with its attributes and geometry, the exact ``count`` of its points
and their mean (``mx``, ``my``), with a partial GiST index per zoom. The tile statement reads it
instead of the points at those zooms (:func:`gis_platform.tiles.queries.build_tile_query`).

It is part of the version: built before the version is published (or rolled back to) when the layer's
rules ask for it and it is missing or was built for other zooms or another grid, described in the
version's report (``tile_pyramid``: grid, zooms, rows, build seconds) and dropped with the version's table.
A version whose layer neither thins nor clusters gets none.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import psycopg

from gis_platform.settings import TileSettings, get_settings
from gis_platform.tiles import queries
from gis_platform.tiles.models import POINT_TYPES
from gis_platform.tiles.rules import parse_rules, tile_size_m

logger = logging.getLogger(__name__)

#: Version states whose table holds complete data.
_COMPLETE = frozenset({"validated", "published", "superseded"})


@dataclass(frozen=True, slots=True)
class PyramidSpec:
    """Which zooms a pyramid covers, on which grid."""

    grid_cells: int
    min_zoom: int
    max_zoom: int

    def matches(self, description: Any) -> bool:
        """True when a stored description (``tile_pyramid``) was built for this spec."""
        if not isinstance(description, dict):
            return False
        keys = ("grid_cells", "min_zoom", "max_zoom")
        return all(description.get(k) == getattr(self, k) for k in keys)

    def cells(self) -> list[tuple[int, float]]:
        """(zoom, cell size in metres), finest first: the sizes the tile statement binds."""
        return [(z, tile_size_m(z) / self.grid_cells) for z in range(self.max_zoom, self.min_zoom - 1, -1)]


def spec_for(tile_settings: Any, geometry_type: str | None, defaults: TileSettings) -> PyramidSpec | None:
    """The pyramid a point layer's rules call for: the zooms it thins or clusters (within its zoom range)."""
    if geometry_type not in POINT_TYPES:
        return None
    rules = parse_rules(tile_settings if isinstance(tile_settings, dict) else None, defaults)
    below = max(rules.thin_below or 0, rules.cluster_below or 0)
    top = min(below - 1, rules.maxzoom)
    if top < rules.minzoom:
        return None
    return PyramidSpec(grid_cells=defaults.grid_cells, min_zoom=rules.minzoom, max_zoom=top)


def prepare(
    conn: psycopg.Connection[Any], slug: str, version: int, *, defaults: TileSettings | None = None
) -> dict[str, Any] | None:
    """Make the version's pyramid match its layer's rules before it is published; its description or None.

    Runs in its own transaction (``conn`` is an autocommit ingest connection) holding the version row,
    so concurrent publishes of one version build it once. A version that is missing or incomplete is
    left alone (the publish itself reports why).
    """
    defaults = defaults or get_settings().tiles
    with conn.transaction():
        row = queries.select_pyramid_source(conn, slug, version)
        if row is None or row["status"] not in _COMPLETE:
            return None
        spec = spec_for(row["tile_settings"], row["geometry_type"], defaults)
        current = row["pyramid"] if row["pyramid_exists"] else None
        if spec is None:
            if row["pyramid_exists"] or row["pyramid"] is not None:
                queries.drop_pyramid(conn, row["version_id"], row["table_name"])
            return None
        if current is not None and spec.matches(current):
            return dict(current)
        started = time.perf_counter()
        columns = [str(c["name"]) for c in (row["columns"] or []) if isinstance(c, dict) and "name" in c]
        rows = queries.build_pyramid(conn, row["table_name"], columns, row["geometry_type"], spec.cells())
        description = {
            "grid_cells": spec.grid_cells,
            "min_zoom": spec.min_zoom,
            "max_zoom": spec.max_zoom,
            "rows": rows,
            "seconds": round(time.perf_counter() - started, 3),
        }
        queries.describe_pyramid(conn, row["version_id"], description)
    logger.info(
        "%s v%s: tile pyramid z%s-z%s, %s cells, built in %.2f s",
        slug, version, spec.min_zoom, spec.max_zoom, rows, description["seconds"],
    )  # fmt: skip
    return description
