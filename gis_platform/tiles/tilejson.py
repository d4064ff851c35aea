"""TileJSON 3.0.0 and OGC API - Tiles tileset documents of a layer (or a composite of layers)."""

from __future__ import annotations

from typing import Any

from gis_platform.tiles.models import TileRef
from gis_platform.tiles.rules import MAX_LAT, lonlat_to_tile

TMS_ID = "WebMercatorQuad"
TMS_URI = "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
CRS_3857 = "http://www.opengis.net/def/crs/EPSG/0/3857"
MVT = "application/vnd.mapbox-vector-tile"
WORLD = (-180.0, -MAX_LAT, 180.0, MAX_LAT)

#: Platform attribute types as TileJSON ``fields`` values.
FIELD_TYPES = {"integer": "Number", "double": "Number", "boolean": "Boolean"}


def bounds(ref: TileRef) -> tuple[float, float, float, float]:
    """Union of the versions' bounding boxes (the world when none is known)."""
    boxes = [v.bbox for v in ref.versions if v.bbox is not None]
    if not boxes:
        return WORLD
    return (
        max(min(b[0] for b in boxes), -180.0),
        max(min(b[1] for b in boxes), -MAX_LAT),
        min(max(b[2] for b in boxes), 180.0),
        min(max(b[3] for b in boxes), MAX_LAT),
    )


def version_segment(ref: TileRef) -> str:
    """``v3`` or ``v3,5`` (with ``~tag`` per joined relation) naming exactly the versions of ``ref``."""
    parts = []
    for version, joins in zip(ref.versions, ref.joins, strict=True):
        parts.append(str(version.version) + "".join(f"~{j.tag}" for j in joins))
    return "v" + ",".join(parts)


def tile_url_template(base: str, ref: TileRef, query: str = "") -> str:
    """The immutable, versioned tile URL template of ``ref`` (``query``: e.g. the joins asked for)."""
    slugs = ",".join(layer.slug for layer in ref.layers)
    return f"{base}/tiles/{slugs}/{version_segment(ref)}/{{z}}/{{x}}/{{y}}.mvt" + (
        f"?{query}" if query else ""
    )


def _fields(ref: TileRef, index: int) -> dict[str, str]:
    version = ref.versions[index]
    fields = {c.name: FIELD_TYPES.get(c.type, "String") for c in version.columns}
    for join in ref.joins[index]:
        fields.update({c.name: FIELD_TYPES.get(c.type, "String") for c in join.columns})
    return fields


def tilejson(ref: TileRef, base: str, query: str = "") -> dict[str, Any]:
    """The TileJSON document of ``ref`` with URLs under ``base`` (and ``query`` on the tile URLs)."""
    west, south, east, north = bounds(ref)
    minzoom, maxzoom = ref.minzoom, ref.maxzoom
    center_zoom = min(max(minzoom, 12), maxzoom)
    names = [layer.title for layer in ref.layers]
    attributions = sorted({layer.attribution for layer in ref.layers if layer.attribution})
    return {
        "tilejson": "3.0.0",
        "tiles": [tile_url_template(base, ref, query)],
        "name": " + ".join(names),
        "description": " ".join(layer.description for layer in ref.layers if layer.description),
        "version": "+".join(f"{v.slug}@{v.version}" for v in ref.versions),
        "attribution": "; ".join(attributions),
        "scheme": "xyz",
        "bounds": [west, south, east, north],
        "center": [(west + east) / 2, (south + north) / 2, center_zoom],
        "minzoom": minzoom,
        "maxzoom": maxzoom,
        "vector_layers": [
            {
                "id": layer.slug,
                "description": layer.title,
                "fields": _fields(ref, i),
                "minzoom": layer.rules.minzoom,
                "maxzoom": layer.rules.maxzoom,
            }
            for i, layer in enumerate(ref.layers)
        ],
    }


def tilesets(ref: TileRef, base: str) -> dict[str, Any]:
    """``/collections/{slug}/tiles``: the collection's one tileset, in Web Mercator."""
    slug = ref.layers[0].slug
    own = f"{base}/collections/{slug}/tiles"
    return {
        "tilesets": [
            {
                "title": f"{ref.layers[0].title} ({TMS_ID})",
                "dataType": "vector",
                "crs": CRS_3857,
                "tileMatrixSetURI": TMS_URI,
                "links": [
                    {"href": f"{own}/{TMS_ID}", "rel": "self", "type": "application/json", "title": "Tileset"},
                    {"href": TMS_URI, "rel": "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme"},
                    {
                        "href": f"{own}/{TMS_ID}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}",
                        "rel": "item",
                        "type": MVT,
                        "templated": True,
                        "title": "Tiles (current version)",
                    },
                ],
            }
        ],
        "links": [
            {"href": own, "rel": "self", "type": "application/json", "title": "Tilesets"},
            {"href": f"{base}/collections/{slug}", "rel": "collection", "title": "The collection"},
            {"href": f"{base}/tiles/{slug}.json", "rel": "describedby", "type": "application/json",
             "title": "TileJSON"},
        ],
    }  # fmt: skip


def tileset(ref: TileRef, base: str) -> dict[str, Any]:
    """``/collections/{slug}/tiles/WebMercatorQuad``: the tileset with its limits and layers."""
    slug = ref.layers[0].slug
    own = f"{base}/collections/{slug}/tiles/{TMS_ID}"
    west, south, east, north = bounds(ref)
    limits = []
    for z in range(ref.minzoom, ref.maxzoom + 1):
        x0, y0 = lonlat_to_tile(west, north, z)
        x1, y1 = lonlat_to_tile(east, south, z)
        limits.append(
            {"tileMatrix": str(z), "minTileRow": y0, "maxTileRow": y1, "minTileCol": x0, "maxTileCol": x1}
        )
    doc = tilesets(ref, base)["tilesets"][0]
    doc["links"][0]["href"] = own
    return {
        **doc,
        "tileMatrixSetLimits": limits,
        "boundingBox": {"lowerLeft": [west, south], "upperRight": [east, north],
                        "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"},
        "layers": [
            {"id": layer.slug, "title": layer.title, "dataType": "vector", "minTileMatrix": str(layer.rules.minzoom),
             "maxTileMatrix": str(layer.rules.maxzoom), "geometryDimension": _dimension(layer.geometry_type),
             "propertiesSchema": {"type": "object", "properties": {
                 name: {"type": kind.lower()} for name, kind in _fields(ref, i).items()}}}
            for i, layer in enumerate(ref.layers)
        ],
    }  # fmt: skip


def _dimension(geometry_type: str) -> int | None:
    if geometry_type.endswith("Point"):
        return 0
    if geometry_type.endswith("LineString"):
        return 1
    if geometry_type.endswith("Polygon"):
        return 2
    return None
