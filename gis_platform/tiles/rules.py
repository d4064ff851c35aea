"""Web-Mercator tile arithmetic and a layer's per-zoom rules (attributes, simplification, thinning)."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

from gis_platform.settings import TileSettings
from gis_platform.tiles.models import LINE_TYPES, POINT_TYPES, Mode, TileRules, ZoomRule

#: Width of the Web-Mercator world in metres (EPSG:3857), and its western/southern edge.
WORLD_M = 40075016.685578488
ORIGIN_M = -WORLD_M / 2
EXTENT = 4096  # MVT tile extent (grid units per tile side)
TILE_PX = 256  # the pixel size simplification tolerances are given in
MAX_LAT = 85.0511287798066


def tile_size_m(z: int) -> float:
    """Width of a tile at zoom ``z`` in metres."""
    return WORLD_M / (1 << z)


def valid_tile(z: int, x: int, y: int, max_zoom: int) -> bool:
    """True when ``z/x/y`` names a tile of the Web-Mercator quad tree up to ``max_zoom``."""
    if z < 0 or z > max_zoom:
        return False
    n = 1 << z
    return 0 <= x < n and 0 <= y < n


def lonlat_to_tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    """The tile at zoom ``z`` that holds the point (clamped to the quad tree)."""
    n = 1 << z
    lat = max(-MAX_LAT, min(MAX_LAT, lat))
    x = int((lon + 180.0) / 360.0 * n)
    rad = math.radians(lat)
    y = int((1.0 - math.asinh(math.tan(rad)) / math.pi) / 2.0 * n)
    return min(max(x, 0), n - 1), min(max(y, 0), n - 1)


def tiles_in_bbox(bbox: tuple[float, float, float, float], z: int) -> Iterator[tuple[int, int, int]]:
    """Every tile of zoom ``z`` that intersects ``bbox`` (lon/lat), row by row."""
    x0, y0 = lonlat_to_tile(bbox[0], bbox[3], z)
    x1, y1 = lonlat_to_tile(bbox[2], bbox[1], z)
    for x in range(x0, x1 + 1):
        for y in range(y0, y1 + 1):
            yield z, x, y


def count_tiles(bbox: tuple[float, float, float, float], z: int) -> int:
    """How many tiles :func:`tiles_in_bbox` yields."""
    x0, y0 = lonlat_to_tile(bbox[0], bbox[3], z)
    x1, y1 = lonlat_to_tile(bbox[2], bbox[1], z)
    return (x1 - x0 + 1) * (y1 - y0 + 1)


def _int(value: Any, default: int | None, low: int, high: int) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return max(low, min(high, int(value)))


def _zoom_map(value: Any) -> dict[int, Any]:
    if not isinstance(value, Mapping):
        return {}
    out: dict[int, Any] = {}
    for key, item in value.items():
        try:
            out[int(key)] = item
        except (TypeError, ValueError):
            continue
    return out


def parse_rules(tile_settings: Mapping[str, Any] | None, defaults: TileSettings) -> TileRules:
    """Read ``catalogue.layer.tile_settings``, tolerating missing or malformed keys."""
    data = tile_settings or {}
    top = defaults.max_zoom
    minzoom = _int(data.get("minzoom"), defaults.default_minzoom, 0, top)
    maxzoom = _int(data.get("maxzoom"), defaults.default_maxzoom, 0, top)
    assert minzoom is not None and maxzoom is not None  # noqa: S101 - defaults are ints
    if minzoom > maxzoom:
        minzoom, maxzoom = maxzoom, minzoom
    buffer = _int(data.get("buffer"), defaults.default_buffer, 0, EXTENT)
    attributes = sorted(
        (z, tuple(str(n) for n in names))
        for z, names in _zoom_map(data.get("attributes_by_zoom")).items()
        if isinstance(names, list)
    )
    simplify = sorted(
        (z, float(px))
        for z, px in _zoom_map(data.get("simplify_by_zoom")).items()
        if isinstance(px, int | float) and not isinstance(px, bool) and px >= 0
    )
    return TileRules(
        minzoom=minzoom,
        maxzoom=maxzoom,
        buffer=buffer or 0,
        attributes_by_zoom=tuple(attributes),
        simplify_by_zoom=tuple(simplify),
        thin_below=_int(data.get("thin_points_below_zoom"), None, 0, top + 1),
        cluster_below=_int(data.get("cluster_below_zoom"), None, 0, top + 1),
    )


def _at_zoom(entries: tuple[tuple[int, Any], ...], z: int) -> Any:
    """The entry of the highest zoom at or below ``z``; the lowest one when ``z`` is below them all."""
    chosen = entries[0][1] if entries else None
    for zoom, value in entries:
        if zoom <= z:
            chosen = value
    return chosen


def rule_for_zoom(rules: TileRules, geometry_type: str, columns: tuple[str, ...], z: int) -> ZoomRule:
    """What the layer's tiles contain at zoom ``z``: attributes, simplification, thinning."""
    wanted = _at_zoom(rules.attributes_by_zoom, z)
    attributes = columns if wanted is None else tuple(c for c in wanted if c in columns)
    simplify = 0.0
    if geometry_type not in POINT_TYPES:
        simplify = float(_at_zoom(rules.simplify_by_zoom, z) or 0.0)
    mode = Mode.plain
    if geometry_type in POINT_TYPES:
        if rules.cluster_below is not None and z < rules.cluster_below:
            mode = Mode.cluster
        elif rules.thin_below is not None and z < rules.thin_below:
            mode = Mode.thin
    return ZoomRule(attributes=attributes, simplify_px=simplify, mode=mode)


def size_expression_kind(geometry_type: str) -> str:
    """How the largest features are chosen when a tile is too full: ``length``, ``area`` or ``none``."""
    if geometry_type in POINT_TYPES:
        return "none"
    return "length" if geometry_type in LINE_TYPES else "area"
