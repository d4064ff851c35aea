"""OpenAPI descriptions of the query parameters the features routes parse themselves.

The routes parse their query strings (OGC API - Features wants 400 for bad or unknown
parameters, FastAPI would answer 422), so the parameters are declared here for the API document.
"""

from __future__ import annotations

from typing import Any

from gis_platform.features import crs
from gis_platform.features.params import DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET


def _param(name: str, description: str, schema: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
        **extra,
    }


_CRS = {"type": "string", "enum": crs.uris()}


def f_param(formats: list[str]) -> dict[str, Any]:
    """The ``f`` parameter for some formats."""
    return _param("f", "Response format (overrides the Accept header).", {"type": "string", "enum": formats})


ITEMS: list[dict[str, Any]] = [
    f_param(["json", "html", "csv"]),
    _param("limit", "Features per page.", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}),
    _param("offset", "Features to skip (paging; follow the next link).", {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0}),
    _param(
        "bbox", "minx,miny,maxx,maxy (or 6 numbers with heights) in bbox-crs axis order.",
        {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}}, style="form", explode=False,
    ),
    _param("bbox-crs", "CRS of bbox (default CRS84).", _CRS),
    _param(
        "datetime", "Instant or interval (start/end, '..' open) on the collection's first date/time property.",
        {"type": "string"},
    ),
    _param("filter", "CQL2 filter on the queryables (see /collections/{collectionId}/queryables).", {"type": "string"}),
    _param("filter-lang", "Language of filter.", {"type": "string", "enum": ["cql2-text", "cql2-json"], "default": "cql2-text"}),
    _param("filter-crs", "CRS of geometries in filter (default CRS84).", _CRS),
    _param("properties", "Comma-separated properties to return (empty: none).", {"type": "string"}),
    _param("sortby", "Comma-separated properties, each optionally prefixed with + or -.", {"type": "string"}),
    _param("crs", "CRS of the response geometries (default CRS84).", _CRS),
]  # fmt: skip
ITEM: list[dict[str, Any]] = [f_param(["json", "html"]), ITEMS[-1], ITEMS[-3]]
META: list[dict[str, Any]] = [f_param(["json", "html"])]
DOWNLOAD: list[dict[str, Any]] = [f_param(["geojson", "csv", "gpkg", "shp"])]

GEOJSON_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Features (GeoJSON), or an HTML page, or CSV with WKT geometry.",
        "content": {"application/geo+json": {"schema": {"type": "object"}}, "text/html": {}, "text/csv": {}},
        "headers": {"Content-Crs": {"description": "CRS of the geometries", "schema": {"type": "string"}}},
    },
    400: {"description": "Invalid parameter (problem+json)."},
    404: {"description": "No such collection or feature (problem+json)."},
}
DOWNLOAD_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The whole layer as a file.",
        "content": {
            "application/geo+json": {},
            "text/csv": {},
            "application/geopackage+sqlite3": {},
            "application/zip": {},
        },
    },
    404: {"description": "No such collection (problem+json)."},
}
