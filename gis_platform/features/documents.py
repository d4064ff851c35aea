"""The metadata documents of the features API: conformance, collections, queryables."""

from __future__ import annotations

from typing import Any

from gis_platform.features import crs as crs_mod
from gis_platform.features.links import CSV, GEOJSON, HTML, JSON, SCHEMA, Urls, link
from gis_platform.features.models import Collection

_F1 = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/"
_F3 = "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/"
_CQL2 = "http://www.opengis.net/spec/cql2/1.0/conf/"
#: Only classes whose requirements the implementation meets (tests/features cover each).
CONFORMANCE: tuple[str, ...] = (
    _F1 + "core", _F1 + "geojson", _F1 + "html", _F1 + "oas30",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    _F3 + "filter", _F3 + "features-filter", _F3 + "queryables", _F3 + "queryables-query-parameters",
    _CQL2 + "basic-cql2", _CQL2 + "cql2-text", _CQL2 + "cql2-json",
    _CQL2 + "advanced-comparison-operators", _CQL2 + "case-insensitive-comparison",
    _CQL2 + "accent-insensitive-comparison", _CQL2 + "basic-spatial-functions",
    _CQL2 + "basic-spatial-functions-plus", _CQL2 + "spatial-functions", _CQL2 + "property-property",
    _CQL2 + "arithmetic",
    "http://www.opengis.net/spec/ogcapi-features-6/1.0/conf/property-selection",
    "http://www.opengis.net/spec/ogcapi-features-8/1.0/conf/sorting",
)  # fmt: skip

REL_QUERYABLES = "http://www.opengis.net/def/rel/ogc/1.0/queryables"
REL_TILESETS = "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector"
REL_STYLES = "http://www.opengis.net/def/rel/ogc/1.0/styles"
DOWNLOADS = {
    "geojson": ("application/geo+json", "GeoJSON"),
    "csv": ("text/csv", "CSV with WKT geometry"),
    "gpkg": ("application/geopackage+sqlite3", "GeoPackage"),
    "shp": ("application/zip", "zipped Shapefile"),
}
_JSON_TYPES = {
    "text": {"type": "string"}, "integer": {"type": "integer"}, "double": {"type": "number"},
    "boolean": {"type": "boolean"}, "date": {"type": "string", "format": "date"},
    "datetime": {"type": "string", "format": "date-time"},
}  # fmt: skip
_GEOMETRY_FORMATS = {
    "Point": "geometry-point", "MultiPoint": "geometry-multipoint", "LineString": "geometry-linestring",
    "MultiLineString": "geometry-multilinestring", "Polygon": "geometry-polygon",
    "MultiPolygon": "geometry-multipolygon",
}  # fmt: skip


def conformance(urls: Urls, fmt: str) -> dict[str, Any]:
    """The conformance declaration."""
    return {"links": urls.alternates(fmt, {"json": JSON, "html": HTML}), "conformsTo": list(CONFORMANCE)}


def collection_doc(
    collection: Collection, urls: Urls, time_extent: tuple[str | None, str | None] | None
) -> dict[str, Any]:
    """One collection's metadata with its links."""
    base = f"/collections/{collection.slug}"
    extent: dict[str, Any] = {}
    if collection.bbox:
        extent["spatial"] = {"bbox": [list(collection.bbox)], "crs": crs_mod.CRS84_URI}
    if time_extent is not None:
        extent["temporal"] = {
            "interval": [list(time_extent)],
            "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian",
        }
    links = [
        link(urls.to(base), "self", JSON, "This collection"),
        link(urls.to(base, f="html"), "alternate", HTML, "This collection as HTML"),
        link(urls.to(f"{base}/items"), "items", GEOJSON, "Features as GeoJSON"),
        link(urls.to(f"{base}/items", f="html"), "items", HTML, "Features as HTML"),
        link(urls.to(f"{base}/items", f="csv"), "items", CSV, "Features as CSV"),
        link(urls.to(f"{base}/queryables"), REL_QUERYABLES, SCHEMA, "Queryable properties"),
        link(urls.to(f"{base}/tiles"), REL_TILESETS, JSON, "Vector tiles"),
        link(
            urls.to(f"/styles/{collection.slug}.json"),
            REL_STYLES,
            "application/vnd.mapbox.style+json",
            "Style",
        ),
    ]
    links.extend(
        link(urls.to(f"{base}/download", f=name), "enclosure", type_, f"Whole layer as {title}")
        for name, (type_, title) in DOWNLOADS.items()
    )
    doc: dict[str, Any] = {
        "id": collection.slug,
        "title": collection.title,
        "title_vi": collection.title_vi,
        "description": collection.description,
        "keywords": list(collection.keywords),
        "attribution": collection.attribution,
        "license": collection.licence,
        "itemType": "feature",
        "crs": crs_mod.uris(),
        "storageCrs": crs_mod.STORAGE.uri,
        "layerVersion": collection.version,
        "featureCount": collection.feature_count,
        "geometryType": collection.geometry_type,
        "links": links,
    }
    if extent:
        doc["extent"] = extent
    return doc


def collections_doc(docs: list[dict[str, Any]], urls: Urls, fmt: str) -> dict[str, Any]:
    """The list of collections."""
    return {
        "links": urls.alternates(fmt, {"json": JSON, "html": HTML}),
        "collections": docs,
        "crs": crs_mod.uris(),
    }


def queryables(collection: Collection, urls: Urls) -> dict[str, Any]:
    """The JSON Schema of the properties usable in filters, sorting and equality parameters."""
    geometry_format = _GEOMETRY_FORMATS.get(collection.geometry_type, "geometry-any")
    properties: dict[str, Any] = {
        "geom": {"title": "Geometry", "format": geometry_format, "x-ogc-role": "primary-geometry"},
        "fid": {"title": "Feature id", "type": "integer", "x-ogc-role": "id"},
    }
    for field in collection.fields:
        properties[field.name] = {"title": field.title, **_JSON_TYPES[field.type]}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": urls.to(f"/collections/{collection.slug}/queryables"),
        "type": "object",
        "title": collection.title,
        "properties": properties,
        "additionalProperties": False,
    }
